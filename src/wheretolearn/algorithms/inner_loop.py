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
    names = rule.adapted
    loss = inner_loss(model, phi, x, y)
    grads = torch.autograd.grad(loss, [phi[n] for n in names], create_graph=not first_order)
    nxt = dict(phi)
    for name, grad in zip(names, grads, strict=True):
        nxt[name] = rule.step(
            k, name, phi[name], grad.detach() if first_order else grad, modulation
        )
    return nxt


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
