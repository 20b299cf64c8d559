"""The first-order inner loop over several tasks at once, with ``torch.func.vmap``.

The same numbers as :func:`~wheretolearn.algorithms.inner_loop.adapt` run task by task with
``first_order=True``: each step's gradients are taken at the current values of phi (first order
detaches them anyway), and the step itself is the loop's :func:`apply_rule`, vmapped, so
ordinary autograd gives theta and the rule's meta-parameters their first-order gradients.
Tensors carry a leading task dimension. BatchNorm stays per task: vmap computes each task's
statistics from that task's images only.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn
from torch.func import grad, vmap

from wheretolearn.algorithms.inner_loop import Params, apply_rule, inner_loss, query_logits
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, refuse_cross_task


def draw_modulations(
    rule: UpdateRule, model: nn.Module, theta: Params, sx: torch.Tensor, sy: torch.Tensor
) -> tuple[Params, Modulation]:
    """One ``rule.begin(task)`` per task, in task order (as the loop draws them: sparse-MAML+'s
    noise is per task); tensors stacked on a task dimension, scalars shared."""
    refuse_cross_task(rule, "vmapped tasks")
    draws = [rule.begin(Task(model, theta, sx[t], sy[t])) for t in range(sx.shape[0])]
    stacked, shared = {}, {}
    for name in draws[0]:  # each adapted tensor's modulation, or a gated rule's own keys
        values = [d[name] for d in draws]
        if isinstance(values[0], torch.Tensor):
            stacked[name] = torch.stack([torch.as_tensor(v) for v in values])
        elif all(v == values[0] for v in values):
            shared[name] = values[0]
        else:
            stacked[name] = torch.as_tensor(values)
    return stacked, shared


def _loss(model: nn.Module, adapted: Params, rest: Params, x, y) -> torch.Tensor:
    return inner_loss(model, {**rest, **adapted}, x, y)


def _update(rule: UpdateRule, k: int, shared: Modulation, phi, grads, stacked) -> Params:
    return apply_rule(rule, phi, grads, k, {**shared, **stacked})


def adapt_tasks(
    model: nn.Module,
    rule: UpdateRule,
    theta: Params,
    sx: torch.Tensor,
    sy: torch.Tensor,
    steps: int,
    modulations: tuple[Params, Modulation],
) -> Params:
    """First-order adaptation of ``T`` tasks (``sx``: ``[T, N, ...]``); phi is ``[T, ...]``."""
    tasks = sx.shape[0]
    stacked, shared = modulations
    phi = {n: t.expand(tasks, *t.shape) for n, t in theta.items()}
    gradients = vmap(grad(partial(_loss, model)))
    for k in range(steps):
        values = {n: t.detach() for n, t in phi.items()}
        adapted = {n: values.pop(n) for n in rule.adapted}
        grads = gradients(adapted, values, sx, sy)
        phi = vmap(partial(_update, rule, k, shared))(phi, grads, stacked)
    return phi


def query_logits_tasks(model: nn.Module, phi: Params, sx, qx) -> torch.Tensor:
    """Query logits of every task, ``[T, Q, ways]``."""
    return vmap(partial(query_logits, model))(phi, sx, qx)


def task_losses(logits: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per task, ``[T]``."""
    flat = nn.functional.cross_entropy(logits.flatten(0, 1), qy.flatten(), reduction="none")
    return flat.view(qy.shape).mean(dim=1)


def accuracies_tasks(model: nn.Module, rule: UpdateRule, sx, sy, qx, qy, steps) -> list[float]:
    """Query accuracy of each of ``T`` tasks adapted together (evaluation: no outer graph)."""
    theta = {n: p.detach() for n, p in model.named_parameters()}
    with torch.no_grad():
        modulations = draw_modulations(rule, model, theta, sx, sy)
        phi = adapt_tasks(model, rule, theta, sx, sy, steps, modulations)
        logits = query_logits_tasks(model, phi, sx, qx)
    return (logits.argmax(-1) == qy).to(torch.float32).mean(dim=1).tolist()
