"""Continual learning on a task stream: ``python -m wheretolearn train --family continual
--params P --out D``.

A run folder holds ``params.yaml`` (the validated parameters and seed), ``last.pt`` (the state
after the last finished task: a killed job resumes at the next task and ends with the same
numbers), ``metrics.jsonl`` (one line per task: its row of the accuracy matrix and the
sparsity at its end) and ``summary.json`` (RA, BTI, the accuracy matrix in percent, the
per-tensor sparsity trace and which data trained and tested).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from wheretolearn.algorithms.continual.base import build_learner
from wheretolearn.algorithms.continual.loop import run_stream
from wheretolearn.algorithms.continual.metrics import (
    backward_transfer,
    learning_accuracy,
    retained_accuracy,
)
from wheretolearn.algorithms.engine import resolve_device
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.experiments.continual.config import ContinualConfig, parse
from wheretolearn.files import write_text_atomic
from wheretolearn.models import build_continual_model
from wheretolearn.run_folder import RunFolder
from wheretolearn.seeding import derive_seed
from wheretolearn.validate import load, parse_overrides

log = logging.getLogger(__name__)


def build(config: ContinualConfig, stream: Any, seed: int):
    """Model, rule and learner of a run, initialised from ``seed`` alone."""
    torch.manual_seed(derive_seed(seed, "init"))
    dtype = getattr(torch, config.train.dtype)
    device = resolve_device(config.train.device)
    model = build_continual_model(config.model, stream.input_shape, stream.num_classes)
    model = model.to(device=device, dtype=dtype)
    rule = build_rule(config.method, model, set()).to(device=device, dtype=dtype)
    generator = torch.Generator().manual_seed(derive_seed(seed, "learner"))
    learner = build_learner(config.learner, model, rule, config.train, generator)
    like = torch.empty((), device=device, dtype=dtype)
    return learner, generator, like


def _save(learner, generator, progress: dict[str, Any], folder: RunFolder, wall: float) -> None:
    state = {
        "learner": learner.state_dict(),
        "extra": learner.extra_state(),
        "generator": generator.get_state(),
        "progress": progress,
        "wall_s": wall,
    }
    folder.save("last.pt", state)
    ends = {e["task"]: e for e in progress["trace"] if e.get("end_of_task")}
    lines = []
    for t, row in enumerate(progress["matrix"]):
        lines.append(json.dumps({"task": t, "accuracy": row[: t + 1], "sparsity": ends[t]}) + "\n")
    write_text_atomic(folder.path / "metrics.jsonl", "".join(lines))


def _restore(learner, generator, folder: RunFolder) -> tuple[dict[str, Any] | None, float]:
    state = folder.load("last.pt")
    if state is None:
        return None, 0.0
    learner.load_state_dict(state["learner"])
    learner.load_extra_state(state["extra"])
    generator.set_state(state["generator"])
    log.info("resuming %s after task %d", folder.path, state["progress"]["next_task"])
    return state["progress"], state["wall_s"]


def summarise(progress: dict[str, Any], learner, stream, seed: int, wall: float) -> dict:
    matrix = progress["matrix"]
    last, sizes = matrix[-1], progress["test_sizes"]
    final = sum(a * n for a, n in zip(last, sizes, strict=True)) / sum(sizes)
    end = progress["trace"][-1]
    return {
        "retained_accuracy": retained_accuracy(matrix),
        "bti": backward_transfer(matrix),
        "learning_accuracy": learning_accuracy(matrix),
        "final_accuracy": final,
        "accuracy_matrix": matrix,
        "sparsity": {
            "final": end["tensors"],
            "final_overall": end["overall"],
            "trace": progress["trace"],
        },
        "parameters": {n: p.numel() for n, p in learner.model.named_parameters()},
        "stream": stream.describe(),
        "wall_s": wall,
        "seed": seed,
    }


def run(
    config: ContinualConfig, out: Path, *, seed: int, stream: Any, replace_stale: bool = False
) -> dict[str, Any]:
    """Learn ``stream`` (or resume) in ``out``; write and return the result. A finished run's
    ``summary.json`` is re-created from its ``last.pt`` if it is missing."""
    params = {"seed": seed, **config.to_dict()}
    with RunFolder(out, params, replace_stale=replace_stale) as folder:
        learner, generator, like = build(config, stream, seed)
        progress, wall = _restore(learner, generator, folder)
        folder.write_params()
        started = time.perf_counter() - wall

        def checkpoint(p: dict[str, Any]) -> None:
            _save(learner, generator, p, folder, time.perf_counter() - started)
            row = [round(a, 1) for a in p["matrix"][-1] if a is not None]
            log.info("task %d: accuracy row %s", p["next_task"], row)

        progress = run_stream(
            learner,
            stream,
            config.train,
            generator,
            like=like,
            progress=progress,
            on_task_end=checkpoint,
        )
        result = summarise(progress, learner, stream, seed, time.perf_counter() - started)
        write_text_atomic(folder.path / "summary.json", json.dumps(result, indent=1))
        return result


def main(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` command of the family: one stream of ``--params`` into ``--out``."""
    from wheretolearn.data.streams import build_stream

    config = load(args.params, parse_overrides(args.set), parse)
    stream = build_stream(config.stream, args.seed, args.data_root)
    result = run(
        config, Path(args.out), seed=args.seed, stream=stream, replace_stale=args.replace_stale
    )
    keys = ("retained_accuracy", "bti", "final_accuracy", "wall_s")
    print(json.dumps({k: round(result[k], 3) for k in keys}))
    return result
