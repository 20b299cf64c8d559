"""Episodic few-shot meta-training and evaluation: the outer loop of Tables 1-4.

:func:`meta_train_step` runs the tasks of a meta-batch one after the other and backpropagates
each task's outer loss at once, so memory stays flat in the meta-batch size (the authors kept
every task's graph until one backward). The gradients are the same: the outer loss is a sum
(or mean) over tasks. Where the device's plan (:mod:`wheretolearn.algorithms.engine`) says so,
first-order meta-batches and independent evaluation tasks are vmapped together instead
(:mod:`wheretolearn.algorithms.batched`), with the same numbers up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from wheretolearn.algorithms.batched import (
    accuracies_tasks,
    adapt_tasks,
    draw_modulations,
    query_logits_tasks,
    task_losses,
)
from wheretolearn.algorithms.engine import channels_last, model_device, plan_for
from wheretolearn.algorithms.inner_loop import (
    adapt,
    adapt_detached,
    adapt_lockstep,
    adapt_trajectory,
    query_logits,
)
from wheretolearn.algorithms.rules.base import UpdateRule, refuse_cross_task
from wheretolearn.errors import DivergenceError


@dataclass
class StepResult:
    loss: float  # outer loss, summed or averaged over tasks as configured
    accuracy: float  # query accuracy, averaged over tasks


def meta_train_step(
    model: nn.Module,
    rule: UpdateRule,
    batch,
    *,
    inner_steps: int,
    first_order: bool,
    outer_loss: str = "sum",
    where: str = "",
    step_weights: list[float] | None = None,
) -> StepResult:
    """Accumulate the meta-gradient of one meta-batch into ``.grad`` (no optimiser step).

    The tasks run one after the other, or vmapped together where the device's
    :class:`~wheretolearn.algorithms.engine.EnginePlan` says so (first order only): the same
    numbers either way; a rule that shares state across tasks (``cross_task``) runs them in
    lockstep. ``step_weights`` (MAML++'s multi-step loss): a task's outer loss is the sum of
    its query losses after every inner step, so weighted (None: the last step's alone). Raises
    :class:`DivergenceError` naming the method and ``where`` on a non-finite loss.
    """
    plan = plan_for(model_device(model))
    args = (model, rule, batch, inner_steps, first_order, outer_loss, where)
    if rule.cross_task:
        return meta_train_lockstep(*args, step_weights=step_weights)
    if plan.vmap_meta_batch and first_order and step_weights is None:
        return meta_train_vmap(model, rule, batch, inner_steps, outer_loss, where)
    return meta_train_loop(*args, plan.channels_last, step_weights=step_weights)


def _check_finite(rule: UpdateRule, value: float, where: str, task: int) -> None:
    if not math.isfinite(value):
        raise DivergenceError(
            f"{rule.rule_name}: non-finite outer loss ({value}) at {where} task {task + 1}; "
            "lower the inner learning rates (the method's alpha, or its initial rates), the "
            "outer learning rates (train.theta_optimizer.lr, train.meta_optimizer.lr) or "
            "enable train.clip"
        )


def outer_loss_of(model, phis: list, sx, qx, qy, step_weights) -> tuple[torch.Tensor, torch.Tensor]:
    """A task's outer loss and last-step query logits from its ``phi_K`` (``phis``: [phi_K])
    or, with ``step_weights``, from ``phi_1 .. phi_K``: the weighted sum of their losses."""
    logits = query_logits(model, phis[-1], sx, qx)
    if step_weights is None:
        return F.cross_entropy(logits, qy), logits
    losses = [F.cross_entropy(query_logits(model, p, sx, qx), qy) for p in phis[:-1]]
    losses.append(F.cross_entropy(logits, qy))
    return sum(w * loss for w, loss in zip(step_weights, losses, strict=True)), logits


def meta_train_loop(
    model, rule, batch, inner_steps, first_order, outer_loss, where, to_channels_last=False,
    *, step_weights=None,
) -> StepResult:  # fmt: skip
    """Task by task, each task's outer loss backpropagated at once (flat memory)."""
    refuse_cross_task(rule, "the per-task loop (one backward per task)")
    theta = dict(model.named_parameters())
    tasks = batch.support_x.shape[0]
    scale = 1.0 if outer_loss == "sum" else 1.0 / tasks
    images = channels_last if to_channels_last else _same
    total_loss, total_acc = 0.0, 0.0
    for t in range(tasks):
        sx, qx = images(batch.support_x[t]), images(batch.query_x[t])
        sy, qy = batch.support_y[t], batch.query_y[t]
        if step_weights is None:
            phis = [adapt(model, rule, theta, sx, sy, inner_steps, first_order=first_order)]
        else:
            phis = adapt_trajectory(
                model, rule, theta, sx, sy, inner_steps, first_order=first_order
            )
        loss, logits = outer_loss_of(model, phis, sx, qx, qy, step_weights)
        value = loss.item()
        _check_finite(rule, value, where, t)
        (loss * scale).backward()
        total_loss += value * scale
        total_acc += (logits.argmax(-1) == qy).float().mean().item()
    return StepResult(total_loss, total_acc / tasks)


def meta_train_vmap(model, rule, batch, inner_steps, outer_loss, where) -> StepResult:
    """First order, all tasks of the meta-batch vmapped together; one backward, one sync."""
    refuse_cross_task(rule, "the vmapped meta-batch")
    theta = dict(model.named_parameters())
    sx, sy, qx, qy = batch.support_x, batch.support_y, batch.query_x, batch.query_y
    scale = 1.0 if outer_loss == "sum" else 1.0 / sx.shape[0]
    modulations = draw_modulations(rule, model, theta, sx, sy)
    phi = adapt_tasks(model, rule, theta, sx, sy, inner_steps, modulations)
    logits = query_logits_tasks(model, phi, sx, qx)
    losses = task_losses(logits, qy)
    values = losses.detach().tolist()
    for t, value in enumerate(values):
        _check_finite(rule, value, where, t)
    (losses.sum() * scale).backward()
    accuracies = (logits.argmax(-1) == qy).float().mean(dim=1).tolist()
    return StepResult(sum(values) * scale, sum(accuracies) / len(accuracies))


def meta_train_lockstep(
    model, rule, batch, inner_steps, first_order, outer_loss, where, *, to_channels_last=False,
    step_weights=None,
) -> StepResult:  # fmt: skip
    """Every task of the meta-batch in lockstep (:func:`adapt_lockstep`), the outer losses
    summed and backpropagated once: the graph runs across tasks through the rule's state."""
    theta = dict(model.named_parameters())
    images = channels_last if to_channels_last else _same
    n = batch.support_x.shape[0]
    support = [(images(batch.support_x[t]), batch.support_y[t]) for t in range(n)]
    paths = adapt_lockstep(
        model, rule, theta, support, inner_steps, first_order=first_order, trajectory=True
    )
    scale, total, values, accs = (1.0 if outer_loss == "sum" else 1.0 / n), 0.0, [], []
    for t, path in enumerate(paths):
        phis = path if step_weights is not None else path[-1:]
        qx, qy = images(batch.query_x[t]), batch.query_y[t]
        loss, logits = outer_loss_of(model, phis, support[t][0], qx, qy, step_weights)
        values.append(loss.item())
        _check_finite(rule, values[-1], where, t)
        total = total + loss * scale
        accs.append((logits.argmax(-1) == qy).float().mean().item())
    total.backward()
    return StepResult(sum(values) * scale, sum(accs) / n)


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def clip_gradients(parameters: Iterable[torch.Tensor], bound: float | None) -> None:
    """Clamp every outer gradient elementwise to ``[-bound, bound]`` (the authors' clipping)."""
    if bound is None:
        return
    for p in parameters:
        if p.grad is not None:
            p.grad.clamp_(-bound, bound)


def task_logits(model: nn.Module, rule: UpdateRule, sx, sy, qx, steps: int) -> torch.Tensor:
    """Adapt to one task's support set with ``steps`` steps; the query logits (no graph)."""
    theta = dict(model.named_parameters())
    if rule.cross_task:
        [phi] = adapt_lockstep(model, rule, theta, [(sx, sy)], steps, training=False)
    else:
        phi = adapt_detached(model, rule, theta, sx, sy, steps)
    with torch.no_grad():
        return query_logits(model, phi, sx, qx)


def task_accuracy(model: nn.Module, rule: UpdateRule, sx, sy, qx, qy, steps: int) -> float:
    """Adapt to one task's support set with ``steps`` steps; query accuracy."""
    logits = task_logits(model, rule, sx, sy, qx, steps)
    return (logits.argmax(-1) == qy).float().mean().item()


def ensemble_accuracies(members: list, batches: Iterable, steps: int) -> list[float]:
    """Per-task query accuracy of a snapshot ensemble (Table S1, after Antoniou et al.'s
    MAML++): every member ``(model, rule)`` adapts to the task on its own, the members' query
    class probabilities (softmax) are averaged, and the ensemble predicts their argmax."""
    accuracies = []
    for batch in batches:
        for t in range(batch.support_x.shape[0]):
            sx, sy, qx = batch.support_x[t], batch.support_y[t], batch.query_x[t]
            logits = [task_logits(model, rule, sx, sy, qx, steps) for model, rule in members]
            predicted = ensemble_prediction(logits)
            accuracies.append((predicted == batch.query_y[t]).float().mean().item())
    return accuracies


def ensemble_prediction(logits: list[torch.Tensor]) -> torch.Tensor:
    """The class of highest mean softmax probability over the members' ``[Q, ways]`` logits."""
    return torch.stack([x.softmax(-1) for x in logits]).mean(dim=0).argmax(-1)


def evaluate_tasks(
    model: nn.Module, rule: UpdateRule, batches: Iterable, steps: int, progress=None
) -> list[float]:
    """Per-task query accuracies over every task of ``batches``, in order.

    Independent tasks are adapted ``eval_tasks_at_once`` at a time where the device's plan
    says so; sparse-MAML+'s noise is still drawn once per task, in task order. A cross-task
    rule adapts each test task on its own, in lockstep with itself (its state from training,
    a batch of one).
    """
    plan = plan_for(model_device(model))
    group = 1 if rule.cross_task else plan.eval_tasks_at_once
    run = accuracies_one_by_one if group == 1 else accuracies_tasks
    accuracies, pending = [], []
    for batch in batches:
        pending.append(batch)
        if sum(b.support_x.shape[0] for b in pending) >= group:
            accuracies += run(model, rule, *_concat(pending), steps)
            pending = []
        if progress is not None:
            progress.update(1)
    if pending:
        accuracies += run(model, rule, *_concat(pending), steps)
    return accuracies


def _concat(batches: list) -> tuple[torch.Tensor, ...]:
    fields = ("support_x", "support_y", "query_x", "query_y")
    return tuple(torch.cat([getattr(b, f) for b in batches]) for f in fields)


def accuracies_one_by_one(model, rule, sx, sy, qx, qy, steps: int) -> list[float]:
    """Query accuracy of each task (``sx``: ``[T, N, ...]``), adapted one after the other."""
    plan = plan_for(model_device(model))
    images = channels_last if plan.channels_last else _same
    return [
        task_accuracy(model, rule, images(sx[t]), sy[t], images(qx[t]), qy[t], steps)
        for t in range(sx.shape[0])
    ]


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the normal 95% confidence interval of the mean."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)
