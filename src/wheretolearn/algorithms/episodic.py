"""Episodic few-shot meta-training and evaluation: the outer loop of Tables 1-4.

:func:`meta_train_step` runs the tasks of a meta-batch one after the other and backpropagates
each task's outer loss at once, so memory stays flat in the meta-batch size (the authors kept
every task's graph until one backward). The gradients are the same: the outer loss is a sum
(or mean) over tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.inner_loop import adapt, adapt_detached
from wheretolearn.algorithms.rules import UpdateRule
from wheretolearn.errors import DivergenceError


@dataclass
class StepResult:
    loss: float  # outer loss, summed or averaged over tasks as configured
    accuracy: float  # query accuracy, averaged over tasks


def query_logits(
    model: nn.Module, phi: dict[str, torch.Tensor], support_x: torch.Tensor, query_x: torch.Tensor
) -> torch.Tensor:
    """Query predictions; the support set is the BatchNorm context when non-transductive."""
    return functional_call(model, phi, (query_x,), {"context": support_x})


def meta_train_step(
    model: nn.Module,
    rule: UpdateRule,
    batch,
    *,
    inner_steps: int,
    first_order: bool,
    outer_loss: str = "sum",
    where: str = "",
) -> StepResult:
    """Accumulate the meta-gradient of one meta-batch into ``.grad`` (no optimiser step).

    Raises :class:`DivergenceError` naming the method and ``where`` on a non-finite loss.
    """
    theta = dict(model.named_parameters())
    tasks = batch.support_x.shape[0]
    scale = 1.0 if outer_loss == "sum" else 1.0 / tasks
    total_loss, total_acc = 0.0, 0.0
    for t in range(tasks):
        sx, sy, qx, qy = batch.support_x[t], batch.support_y[t], batch.query_x[t], batch.query_y[t]
        phi = adapt(model, rule, theta, sx, sy, inner_steps, first_order=first_order)
        logits = query_logits(model, phi, sx, qx)
        loss = F.cross_entropy(logits, qy)
        value = loss.item()
        if not math.isfinite(value):
            raise DivergenceError(
                f"{rule.rule_name}: non-finite outer loss ({value}) at {where} task {t}; "
                "lower the inner learning rate (method.alpha) or enable train.clip"
            )
        (loss * scale).backward()
        total_loss += value * scale
        total_acc += (logits.argmax(-1) == qy).float().mean().item()
    return StepResult(total_loss, total_acc / tasks)


def clip_gradients(parameters: Iterable[torch.Tensor], bound: float | None) -> None:
    """Clamp every outer gradient elementwise to ``[-bound, bound]`` (the authors' clipping)."""
    if bound is None:
        return
    for p in parameters:
        if p.grad is not None:
            p.grad.clamp_(-bound, bound)


def task_accuracy(model: nn.Module, rule: UpdateRule, sx, sy, qx, qy, steps: int) -> float:
    """Adapt to one task's support set with ``steps`` steps; query accuracy."""
    theta = dict(model.named_parameters())
    phi = adapt_detached(model, rule, theta, sx, sy, steps)
    with torch.no_grad():
        logits = query_logits(model, phi, sx, qx)
    return (logits.argmax(-1) == qy).float().mean().item()


def evaluate_tasks(
    model: nn.Module, rule: UpdateRule, batches: Iterable, steps: int, progress=None
) -> list[float]:
    """Per-task query accuracies over every task of ``batches``."""
    accuracies = []
    for batch in batches:
        for t in range(batch.support_x.shape[0]):
            accuracies.append(
                task_accuracy(
                    model,
                    rule,
                    batch.support_x[t],
                    batch.support_y[t],
                    batch.query_x[t],
                    batch.query_y[t],
                    steps,
                )
            )
        if progress is not None:
            progress.update(1)
    return accuracies


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the normal 95% confidence interval of the mean."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, 1.96 * math.sqrt(var / n)
