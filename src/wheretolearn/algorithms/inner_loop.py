"""The one inner loop: ``phi_{k+1} = phi_k - U(g_k)``, K steps, first- or second-order."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

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
    """
    if modulation is None:
        modulation = rule.begin()
    phi = dict(theta)
    for k in range(steps):
        phi = inner_step(model, rule, phi, x, y, k, modulation, first_order=first_order)
    return phi


def adapt_detached(
    model: nn.Module, rule: UpdateRule, theta: Params, x: torch.Tensor, y: torch.Tensor, steps: int
) -> Params:
    """Adaptation for evaluation: no outer graph is built, memory stays flat in ``steps``."""
    with torch.no_grad():
        modulation = {n: torch.as_tensor(v).detach() for n, v in rule.begin().items()}
    phi = {n: t.detach() for n, t in theta.items()}
    for k in range(steps):
        for name in rule.adapted:
            phi[name] = phi[name].requires_grad_()
        phi = inner_step(model, rule, phi, x, y, k, modulation, first_order=True)
        phi = {n: t.detach() for n, t in phi.items()}
    return phi
