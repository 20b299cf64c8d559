"""The stream loop: tasks one after another, the accuracy matrix, sparsity over time.

After each task the learner is tested on every task seen so far (the lower triangle of GEM's
accuracy matrix ``R``, which is all that RA and BTI need; entries above the diagonal are
``None``). Progress is a plain dictionary handed to ``on_task_end`` after every task, so the
caller can checkpoint it and a killed run resumes at the next task with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from tqdm.auto import tqdm

from wheretolearn.algorithms.continual.base import Learner
from wheretolearn.errors import DivergenceError

EVAL_CHUNK = 2048


@torch.no_grad()
def accuracy(learner: Learner, x: torch.Tensor, y: torch.Tensor, like: torch.Tensor) -> float:
    """Accuracy in percent on every example of ``(x, y)``, none dropped."""
    correct = 0
    for start in range(0, len(x), EVAL_CHUNK):
        xb = x[start : start + EVAL_CHUNK].to(like)
        yb = y[start : start + EVAL_CHUNK].to(like.device)
        correct += int((learner.logits(xb).argmax(1) == yb).sum())
    return 100.0 * correct / len(x)


def sparsity_entry(learner: Learner, **where: Any) -> dict[str, Any]:
    """Per-tensor fraction of never-updated coordinates, and its numel-weighted mean."""
    tensors = learner.sparsity()
    sizes = {n: p.numel() for n, p in learner.model.named_parameters()}
    overall = sum(tensors[n] * sizes[n] for n in tensors) / sum(sizes[n] for n in tensors)
    return {**where, "tensors": tensors, "overall": overall}


def new_progress(learner: Learner) -> dict[str, Any]:
    start = sparsity_entry(learner, task=0, step=0, examples=0, epoch=0)
    return {"next_task": 0, "step": 0, "examples": 0, "matrix": [], "trace": [start]}


def _train_task(learner, task, t, progress, train, generator, like, desc) -> None:
    n = len(task.train_x)
    for epoch in range(train.epochs):
        learner.first_visit = epoch == 0
        order = torch.arange(n) if epoch == 0 else torch.randperm(n, generator=generator)
        starts = range(0, n, train.batch_size)
        for start in tqdm(starts, desc=f"{desc} epoch {epoch + 1}", leave=False, disable=None):
            index = order[start : start + train.batch_size]
            x, y = task.train_x[index].to(like), task.train_y[index].to(like.device)
            loss = learner.observe(x, y, t)
            if not math.isfinite(loss):
                raise DivergenceError(
                    f"{learner.learner_name} with rule {learner.rule.rule_name}: loss {loss} "
                    f"on task {t}, epoch {epoch}, step {progress['step']}; "
                    "lower the learning rates or set train.clip_norm"
                )
            progress["step"] += 1
            progress["examples"] += len(index)
            if progress["step"] % train.log_every == 0:
                where = {k: progress[k] for k in ("step", "examples")}
                progress["trace"].append(sparsity_entry(learner, task=t, epoch=epoch, **where))


def run_stream(
    learner: Learner,
    stream: Any,
    train: Any,
    generator: torch.Generator,
    *,
    like: torch.Tensor,
    progress: dict[str, Any] | None = None,
    on_task_end: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Learn the tasks of ``stream`` in order, from ``progress['next_task']`` on.

    ``like`` is a tensor of the run's device and dtype. Returns the final progress: the
    accuracy matrix (percent) and the sparsity trace.
    """
    progress = progress or new_progress(learner)
    tasks = stream.tasks
    for t in range(progress["next_task"], len(tasks)):
        _train_task(learner, tasks[t], t, progress, train, generator, like, f"task {t + 1}")
        learner.end_task(t)
        where = {k: progress[k] for k in ("step", "examples")}
        progress["trace"].append(
            sparsity_entry(learner, task=t, epoch=train.epochs - 1, end_of_task=True, **where)
        )
        row, sizes = [], []
        for j in range(t + 1):
            x, y = tasks[j].test()
            row.append(accuracy(learner, x, y, like))
            sizes.append(len(y))
        progress["matrix"].append(row + [None] * (len(tasks) - t - 1))
        progress["test_sizes"] = sizes
        progress["next_task"] = t + 1
        if on_task_end is not None:
            on_task_end(progress)
    return progress
