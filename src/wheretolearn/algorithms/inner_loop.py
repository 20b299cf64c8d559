"""The one inner loop: ``phi_{k+1} = phi_k - U(g_k)``, K steps, first- or second-order."""

from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.engine import channels_last_strides, model_device, plan_for
from wheretolearn.algorithms.rules.base import (
    Modulation,
    Task,
    UpdateRule,
    linear_steps,
    refuse_cross_task,
)

Params = dict[str, torch.Tensor]


def inner_loss(model: nn.Module, phi: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(functional_call(model, phi, (x,)), y)


def query_logits(
    model: nn.Module, phi: dict[str, torch.Tensor], support_x: torch.Tensor, query_x: torch.Tensor
) -> torch.Tensor:
    """Query predictions; the support set is the BatchNorm context when non-transductive."""
    return functional_call(model, phi, (query_x,), {"context": support_x})


def task_gradients(
    model: nn.Module, phi: Params, x: torch.Tensor, y: torch.Tensor, names: list[str], **kw
) -> dict[str, torch.Tensor]:
    """Gradients of the inner loss at ``phi`` for the tensors ``names`` (``kw``: autograd's)."""
    loss = inner_loss(model, phi, x, y)
    grads = torch.autograd.grad(loss, [phi[n] for n in names], **kw)
    return dict(zip(names, grads, strict=True))


def apply_rule(
    rule: UpdateRule, phi: Params, grads: Params, k: int, modulation: Modulation
) -> Params:
    """``phi - U(g)``: the rule's step ``k`` over the whole dict (:meth:`UpdateRule.update`)."""
    return rule.update(k, phi, grads, modulation)


def inner_step(
    model: nn.Module,
    rule: UpdateRule,
    phi: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    modulation: Modulation,
    *,
    first_order: bool,
) -> Params:
    """One step on every adapted tensor. First order detaches the gradients, so the step is
    linear in theta and in the rule's meta-parameters; second order keeps their graph."""
    grads = task_gradients(model, phi, x, y, rule.adapted, create_graph=not first_order)
    if first_order:
        grads = {n: g.detach() for n, g in grads.items()}
    return apply_rule(rule, phi, grads, k, modulation)


def adapt(
    model: nn.Module,
    rule: UpdateRule,
    theta: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    *,
    first_order: bool = True,
    modulation: Modulation | None = None,
) -> Params:
    """Adapt ``theta`` to a task's support set ``(x, y)`` in ``steps`` inner steps.

    ``theta`` is the model's parameters (or any tensors of the same names); the returned
    ``phi_K`` is differentiable with respect to theta and the rule's meta-parameters
    (first-order: through the identity path and the modulation only).

    First order with the base step, ``phi_K = theta - modulation * sum_k g_k`` exactly in
    real arithmetic (the gradients carry no graph and the modulation is fixed per task), so
    the K steps run without a graph and ``phi_K`` is rebuilt from the gradient sum: the same
    values up to float rounding and the same first-order gradients, without K steps of
    autograd nodes per tensor to build and walk back.
    """
    refuse_cross_task(rule, "adapt (one task on its own)")
    if modulation is None:
        modulation = rule.begin(Task(model, theta, x, y))
    if first_order and linear_steps(rule):
        _, total = detached_steps(model, rule, theta, x, y, steps, modulation, sum_gradients=True)
        phi = dict(theta)
        for name in rule.adapted:
            phi[name] = theta[name] - modulation[name] * total[name]
        return phi
    phi = dict(theta)
    for k in range(steps):
        phi = inner_step(model, rule, phi, x, y, k, modulation, first_order=first_order)
    return phi


def adapt_trajectory(
    model: nn.Module,
    rule: UpdateRule,
    theta: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    *,
    first_order: bool = True,
) -> list[Params]:
    """``phi_1 .. phi_K`` of one task, each with its graph (as :func:`adapt`'s step loop):
    the multi-step loss scores the query set after every inner step."""
    refuse_cross_task(rule, "adapt_trajectory (one task on its own)")
    modulation = rule.begin(Task(model, theta, x, y))
    phi, out = dict(theta), []
    for k in range(steps):
        phi = inner_step(model, rule, phi, x, y, k, modulation, first_order=first_order)
        out.append(phi)
    return out


def detached_steps(
    model: nn.Module,
    rule: UpdateRule,
    theta: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    modulation: Modulation,
    *,
    sum_gradients: bool = False,
) -> tuple[Params, Params | None]:
    """``steps`` first-order steps on detached copies of ``theta``, updated in place: ``phi_K``
    (no graph) and, with ``sum_gradients``, ``sum_k g_k`` per adapted tensor. The base step is
    one fused multiply-add over all tensors, other rules' through :func:`apply_rule`; gradients
    are compiled where the device's plan says so (:func:`step_gradients`)."""
    names = rule.adapted
    gradients = step_gradients(model, names)
    phi, scales = _working_copies(rule, theta, modulation, _layout(x), gradients is None)
    adapted = [phi[n] for n in names]
    with torch.no_grad():
        total = [torch.zeros_like(p) for p in adapted] if sum_gradients else None
    linear = linear_steps(rule)
    for k in range(steps):
        if gradients is None:
            grads = task_gradients(model, phi, x, y, names)
        else:
            grads = gradients({n: phi[n] for n in names}, phi, x, y)
        with torch.no_grad():
            if linear:
                torch._foreach_addcmul_(
                    adapted, [scales[n] for n in names], [grads[n] for n in names], value=-1.0
                )
            else:
                stepped = apply_rule(rule, phi, grads, k, scales)
                torch._foreach_copy_(adapted, [stepped[n] for n in names])
            if total is not None:
                torch._foreach_add_(total, list(grads.values()))
    phi = {n: t.detach() for n, t in phi.items()}
    return phi, None if total is None else dict(zip(names, total, strict=True))


def _working_copies(rule, theta: Params, modulation: Modulation, layout, eager: bool):
    """Detached copies of theta, the adapted ones in ``layout`` (requiring gradients when the
    steps run eagerly), and the modulation as fixed tensors of their dtype and layout."""
    phi = {n: t.detach() for n, t in theta.items()}
    for name in rule.adapted:
        phi[name] = phi[name].clone(memory_format=layout(phi[name]))
        phi[name].requires_grad_(eager)
    ref = phi[rule.adapted[0]]  # a gated rule's own keys (a task summary) take its dtype
    with torch.no_grad():
        scales = {n: _like(v, phi.get(n, ref), layout(phi.get(n, ref)))
                  for n, v in modulation.items()}  # fmt: skip
    return phi, scales


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def step_gradients(model: nn.Module, names: list[str]):
    """The inner loss's gradients for ``names`` as one compiled function, where the device's
    plan compiles steps (``fn(adapted, phi, x, y) -> {name: grad}``, ``adapted`` overriding
    those names in ``phi``); None where it runs them eagerly. Compiled once per model, names
    and plan; shapes are fixed per task, so a run compiles once per episode shape."""
    plan = plan_for(model_device(model))
    if plan.compile_mode is None:
        return None
    key = (tuple(names), plan.compile_mode, plan.compile_backend)
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:

        def loss(adapted: Params, phi: Params, x: torch.Tensor, y: torch.Tensor):
            return inner_loss(model, {**phi, **adapted}, x, y)

        cache[key] = torch.compile(
            torch.func.grad(loss),
            mode=plan.compile_mode,
            backend=plan.compile_backend,
            dynamic=False,
            fullgraph=True,
        )
    return cache[key]


def _layout(x: torch.Tensor):
    """The memory format for 4-d working copies: channels-last where the images are (the
    convolutions then take and return weights without a layout copy each call)."""
    last = x.dim() == 4 and x.stride() == channels_last_strides(x.shape)

    def layout(t: torch.Tensor) -> torch.memory_format:
        return torch.channels_last if last and t.dim() == 4 else torch.contiguous_format

    return layout


def _like(
    value: torch.Tensor | float, like: torch.Tensor, layout: torch.memory_format
) -> torch.Tensor:
    """``value`` as a tensor of ``like``'s dtype and device, in ``layout``, without graph (a
    Python float is converted directly: through float32 first, 0.3 would be 0.30000001192...)."""
    out = torch.as_tensor(value, dtype=like.dtype, device=like.device).detach()
    return out.contiguous(memory_format=layout) if out.dim() == 4 else out


def adapt_detached(
    model: nn.Module, rule: UpdateRule, theta: Params, x: torch.Tensor, y: torch.Tensor, steps: int
) -> Params:
    """Adaptation for evaluation: no outer graph is built, memory stays flat in ``steps``."""
    refuse_cross_task(rule, "adapt_detached (one task on its own)")
    with torch.no_grad():
        modulation = rule.begin(Task(model, theta, x, y))
    return detached_steps(model, rule, theta, x, y, steps, modulation)[0]


def adapt_lockstep(
    model: nn.Module,
    rule: UpdateRule,
    theta: Params,
    tasks: list[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    *,
    first_order: bool = True,
    training: bool = True,
    trajectory: bool = False,
) -> list[Params] | list[list[Params]]:
    """Adapt several tasks together, step ``k`` of every task, then the rule's
    :meth:`~UpdateRule.batch_update` over all of them: the engine of cross-task rules (state
    shared across the tasks of a meta-batch). Each ``phi_K`` keeps its graph to theta, the
    rule's meta-parameters and, through the shared state, the other tasks (first order detaches
    only the inner gradients); :meth:`~UpdateRule.end_batch` closes the batch. Without
    ``training`` (evaluation) no outer graph is kept: each step starts from detached tensors.
    With ``trajectory``, each task's ``[phi_1 .. phi_K]`` (the multi-step loss)."""
    state = rule.begin_batch(len(tasks))
    modulations = [rule.begin(Task(model, theta, x, y)) for x, y in tasks]
    phis = [_fresh(rule, theta) if not training else dict(theta) for _ in tasks]
    steps_of: list[list[Params]] = [[] for _ in tasks]
    for k in range(steps):
        grads = []
        for phi, (x, y) in zip(phis, tasks, strict=True):
            g = task_gradients(model, phi, x, y, rule.adapted, create_graph=not first_order)
            grads.append({n: t.detach() for n, t in g.items()} if first_order else g)
        phis = rule.batch_update(k, phis, grads, modulations, state)
        for path, phi in zip(steps_of, phis, strict=True):
            path.append(phi)
        if not training:
            phis = [_fresh(rule, phi) for phi in phis]
    rule.end_batch(state, training=training)
    return steps_of if trajectory else phis


def _fresh(rule: UpdateRule, phi: Params) -> Params:
    """Detached copies; the adapted ones require gradients (the next step takes them)."""
    return {n: t.detach().requires_grad_(n in rule.adapted) for n, t in phi.items()}
