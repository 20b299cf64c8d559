"""Gradient sharing's speed-up (targets ``gs_speedup``, ``gs_lr``), from training logs alone.

A declaration with ``pairs`` (``{shared run: baseline run}``) compares each pair's validation
curves (``metrics.jsonl``: validation accuracy against outer iterations). Both curves are
smoothed by a trailing mean over the last ``smooth`` validations (the declaration's; 1: raw).
The baseline *reaches its best* at the first iteration where its smoothed curve is highest;
the shared run *reaches the same accuracy* at the first iteration where its smoothed curve is
at least that high. The speed-up is ``100 * (baseline iterations / shared iterations - 1)``
(%): +134% means 2.34x fewer iterations. A seed where the shared run never reaches it has no
speed-up; the table counts the seeds where it did (``reached``).
"""

from __future__ import annotations

import json
from typing import Any

from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.cells import metrics_file
from wheretolearn.experiments.fewshot.compose import cell, compose
from wheretolearn.tables import summarise

INTRO = [
    "Ours: mean ± std over the seeds where the shared run reached the baseline's best",
    "validation accuracy (smoothed: trailing mean over the declaration's `smooth`",
    "validations); `speedup` = 100 (baseline iterations / shared iterations - 1), `reached`",
    "= % of seeds that reached it. The paper gives no per-table numbers (a summary of it is",
    "all we have): its columns stay empty.",
]
METRICS = ["speedup", "reached", "baseline_iterations", "shared_iterations"]


def curve(profile: str, run: str, shots: int, seed: int) -> tuple[list[int], list[float]]:
    """Outer iterations and validation accuracy (%) at each validation of a run."""
    path = metrics_file(profile, run, shots, seed)
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    per_epoch = compose(cell(run, shots), profile)["train"]["batches_per_epoch"]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    validated = [r for r in records if "val_accuracy" in r]
    return [r["epoch"] * per_epoch for r in validated], [
        100.0 * r["val_accuracy"] for r in validated
    ]


def smoothed(values: list[float], window: int) -> list[float]:
    """Trailing mean over the last ``window`` values (fewer at the start)."""
    return [sum(values[max(0, i + 1 - window) : i + 1]) / (i + 1 - max(0, i + 1 - window))
            for i in range(len(values))]  # fmt: skip


def speedup(baseline, shared, window: int) -> dict[str, float | None]:
    """Iterations to the baseline's best smoothed accuracy, iterations the shared run needs to
    reach it, and the speed-up (%); None where the shared run never reaches it."""
    (base_it, base_acc), (shared_it, shared_acc) = baseline, shared
    base, ours = smoothed(base_acc, window), smoothed(shared_acc, window)
    best = max(range(len(base)), key=lambda i: (base[i], -i))  # the first highest
    reached = next((i for i, v in enumerate(ours) if v >= base[best]), None)
    if reached is None:
        return {"baseline_iterations": base_it[best], "shared_iterations": None, "speedup": None}
    return {
        "baseline_iterations": base_it[best],
        "shared_iterations": shared_it[reached],
        "speedup": 100.0 * (base_it[best] / shared_it[reached] - 1.0),
    }


def rows(decl: dict[str, Any], table: str, profile: str, seeds: list[int], runs) -> list[dict]:
    """One row per pair, setting and metric (:data:`METRICS`) over the seeds; the paper gives
    no per-table numbers (its columns stay empty)."""
    window = decl.get("smooth", 1)
    out = []
    for shared, base in decl["pairs"].items():
        if shared not in runs:
            continue
        for shots in decl["settings"]:
            found = [
                speedup(curve(profile, base, shots, s), curve(profile, shared, shots, s), window)
                for s in seeds
            ]
            for metric in METRICS:
                out.append(_row(table, shots, shared, decl["datasets"][0], metric, found))
    return out


def _row(table, shots, method, dataset, metric, found) -> dict[str, Any]:
    if metric == "reached":
        values = [100.0 * (f["speedup"] is not None) for f in found]
    else:
        values = [f[metric] for f in found if f[metric] is not None]
    mean, std = summarise(values) if values else (None, None)
    return {"table": table, "setting": f"{shots}-shot", "method": method, "dataset": dataset,
            "metric": metric, "mean": mean, "std": std, "n_seeds": len(found),
            "paper_mean": None, "paper_std": None}  # fmt: skip
