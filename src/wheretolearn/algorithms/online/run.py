"""The online loop over a stream: score, learn, record; checkpoints that resume exactly.

A checkpoint (:func:`snapshot`) holds the learner's whole state (model, rule, optimisers,
buffer, phi, counters), the metric accumulators, the sparsity trace, torch's global RNG states
(CPU, and CUDA where present) and the next step; the stream needs nothing, being a pure
function of ``(seed, step)``. A run killed after a checkpoint and resumed from it with
:func:`run_online` ``(state=...)`` gives the same numbers, bit for bit, as one that was never
interrupted.

A learner is anything with ``observe(x, y) -> StepRecord``, ``state()``/``load_state()``,
``model`` and ``rule`` (:class:`~wheretolearn.algorithms.online.learner.OnlineCMAML`,
:class:`~wheretolearn.algorithms.online.baselines.OnlineSupervised`, online Adam, whose
``rule`` is None: no sparsity trace, and
:class:`~wheretolearn.algorithms.online.baselines.OnlinePretrained`, MAML or ANIL never
retrained). Images enter in the device plan's memory format (channels-last on CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from wheretolearn.algorithms.engine import channels_last, plan_for
from wheretolearn.algorithms.online.metrics import OnlineMetrics
from wheretolearn.algorithms.rules.base import sparsity_record


def snapshot(learner, metrics: OnlineMetrics, trace: list, next_step: int) -> dict[str, Any]:
    """The full state after ``next_step`` steps (plain tensors, numbers, lists, dicts)."""
    return {
        "next_step": next_step,
        "learner": learner.state(),
        "metrics": metrics.state(),
        "trace": [dict(entry) for entry in trace],
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore(learner, metrics: OnlineMetrics, state: dict[str, Any]) -> tuple[list, int]:
    """Load a :func:`snapshot` into ``learner`` and ``metrics`` and torch's RNG; the trace so
    far and the next step."""
    learner.load_state(state["learner"])
    metrics.load_state(state["metrics"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return [dict(entry) for entry in state["trace"]], state["next_step"]


def run_online(
    learner,
    stream,
    *,
    state: dict[str, Any] | None = None,
    log_every: int | None = None,
    checkpoint_every: int | None = None,
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[Any, Any], None] | None = None,
) -> dict[str, Any]:
    """Learn ``stream`` (``len`` and ``batch(t)``) from the start, or from ``state``.

    Every ``log_every`` steps the rule's per-tensor gradient sparsity joins the trace (Figure
    S5); every ``checkpoint_every`` steps and at the end, ``on_checkpoint`` gets a
    :func:`snapshot`. ``on_step(batch, record)`` sees every step. Returns the metrics'
    summary, the trace and the per-step history (mode, true switch, detected, accuracy).
    """
    metrics, trace, start = OnlineMetrics(), [], 0
    if state is not None:
        trace, start = restore(learner, metrics, state)
    like = next(learner.model.parameters())
    layout = channels_last if plan_for(like.device).channels_last else _same
    for t in range(start, len(stream)):
        batch = stream.batch(t)
        x = layout(batch.x.to(device=like.device, dtype=like.dtype))
        record = learner.observe(x, batch.y.to(like.device))
        metrics.record(batch.mode, record.accuracy, switched=batch.switched,
                       detected=record.detected)  # fmt: skip
        if log_every and learner.rule is not None and (t + 1) % log_every == 0:
            trace.append({"step": t + 1, **sparsity_record(learner.rule)})
        if on_step is not None:
            on_step(batch, record)
        due = t + 1 == len(stream) or (checkpoint_every and (t + 1) % checkpoint_every == 0)
        if on_checkpoint is not None and due:
            on_checkpoint(snapshot(learner, metrics, trace, t + 1))
    return {"metrics": metrics.summary(), "trace": trace, "history": metrics.history}


def _same(x):
    return x
