"""The one inner loop: ``phi_{k+1} = phi_k - U(g_k)``, K steps, first- or second-order."""

from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.engine import channels_last_strides, model_device, plan_for
from wheretolearn.algorithms.rules import Modulation, UpdateRule

Params = dict[str, torch.Tensor]


def inner_loss(model: nn.Module, phi: Params, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(functional_call(model, phi, (x,)), y)


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
    """``phi - U(g)`` on every adapted tensor; the other tensors pass through unchanged."""
    nxt = dict(phi)
    for name in rule.adapted:
        nxt[name] = rule.step(k, name, phi[name], grads[name], modulation)
    return nxt


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


def linear_steps(rule: UpdateRule) -> bool:
    """Whether ``rule`` keeps the base step ``phi - modulation * g`` (every rule so far)."""
    return type(rule).step is UpdateRule.step


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
    if modulation is None:
        modulation = rule.begin()
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
    """``steps`` first-order steps on detached copies of ``theta``, updated in place.

    Returns ``phi_K`` (no graph) and, with ``sum_gradients``, ``sum_k g_k`` per adapted tensor.
    The base step runs as one fused multiply-add over all tensors; other rules' steps run
    through :func:`apply_rule`. The gradients are compiled where the device's plan says so
    (:func:`step_gradients`).
    """
    names = rule.adapted
    gradients = step_gradients(model, names)
    phi = {n: t.detach() for n, t in theta.items()}
    layout = _layout(x)
    for name in names:
        phi[name] = phi[name].clone(memory_format=layout(phi[name]))
        phi[name].requires_grad_(gradients is None)
    adapted = [phi[n] for n in names]
    with torch.no_grad():
        scales = [_like(modulation[n], phi[n], layout(phi[n])) for n in names]
        fixed = {n: s for n, s in zip(names, scales, strict=True)}
        total = [torch.zeros_like(p) for p in adapted] if sum_gradients else None
    linear = linear_steps(rule)
    for k in range(steps):
        if gradients is None:
            grads = task_gradients(model, phi, x, y, names)
        else:
            grads = gradients({n: phi[n] for n in names}, phi, x, y)
        with torch.no_grad():
            if linear:
                torch._foreach_addcmul_(adapted, scales, list(grads.values()), value=-1.0)
            else:
                stepped = apply_rule(rule, phi, grads, k, fixed)
                torch._foreach_copy_(adapted, [stepped[n] for n in names])
            if total is not None:
                torch._foreach_add_(total, list(grads.values()))
    phi = {n: t.detach() for n, t in phi.items()}
    return phi, None if total is None else dict(zip(names, total, strict=True))


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
    with torch.no_grad():
        modulation = rule.begin()
    return detached_steps(model, rule, theta, x, y, steps, modulation)[0]
