"""Online tables from result files alone, the paper's numbers beside ours, and the mode-mix
identity the tables are checked against.

A table reads every run's ``summary.json`` and has the columns of every family
(:data:`wheretolearn.tables.COLUMNS`): one row per setting (p), run and metric, mean and std
over the seeds. Metrics: ``accuracy`` (the cumulative online accuracy, %), ``accuracy_<mode>``
(the same over the steps of one mode), ``precision`` and ``recall`` of the switch detector
(%), and Table S9's hyperparameters ``alpha_0`` and ``gamma_m`` (the values the run used).
Methods the family does not run (the baselines copied from the C-MAML paper) are
``reported_only`` rows: the paper's value, no number of ours.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from wheretolearn.experiments import paper_value, read_result
from wheretolearn.experiments.online.compose import FAMILY, cell, setting, table_cells
from wheretolearn.paths import layout
from wheretolearn.tables import Grid, summarise

INTRO = [
    "Ours: mean ± std over seeds; paper: the published value. Rows marked *(reported)*: the",
    "paper copied these baselines from the C-MAML paper (Caccia et al. 2020); we do not run",
    "them. alpha_0 and gamma_m are the hyperparameters each run used.",
]
STREAM = "Omniglot-MNIST-FashionMNIST"
#: The protocol's mode weights: the cumulative accuracy is their mix of the per-mode ones.
WEIGHTS = {"omniglot": 0.5, "mnist": 0.25, "fashion-mnist": 0.25}
#: The paper's per-dataset numbers agree with its total to this many points (all rows but
#: the misprinted ones, which ``misprinted`` marks in reported.yaml).
PAPER_TOLERANCE = 0.7
SHORT = {"accuracy": "total", "alpha_0": "α0", "gamma_m": "γm"}


def short(metric: str) -> str:
    return SHORT.get(metric, metric.removeprefix("accuracy_"))


def result_file(profile: str, run: str, name: str, seed: int, file: str = "summary.json") -> Path:
    return layout().run_dir(profile, FAMILY, cell(run, name), seed) / file


def metric_value(result: dict[str, Any], metric: str) -> float | None:
    """A metric of one run: accuracies in percent as stored, precision and recall as
    percentages, hyperparameters as they are. None where a run has none: a mode the stream
    never visited (short streams), an undefined precision or recall, a dash of Table S9."""
    if metric == "accuracy":
        return float(result["accuracy"])
    if metric.startswith("accuracy_"):
        return result["per_mode"].get(metric.removeprefix("accuracy_"))  # None: no step of it
    if metric in ("precision", "recall"):
        value = result[metric]
        return None if value is None else 100.0 * value
    return result["hyperparameters"][metric]


def _ours(decl: dict, run: str, name: str, metric: str, profile: str, seeds: list[int]):
    if run in decl.get("reported_only", []):
        return None, None, 0
    values = [metric_value(read_result(result_file(profile, run, name, s)), metric) for s in seeds]
    values = [v for v in values if v is not None]  # the seeds that have a value
    if not values:
        return None, None, 0
    mean, std = summarise(values)
    return mean, (None if metric in ("alpha_0", "gamma_m") else std), len(values)


def rows(decl: dict[str, Any], reported: dict, table: str, profile: str,
         seeds: list[int]) -> list[dict[str, Any]]:  # fmt: skip
    """One row per setting, method and metric: ours over seeds, and the paper's value."""
    out = []
    runs = [*decl["runs"], *decl.get("reported_only", [])]
    for name in decl["settings"]:
        for run in runs:
            for metric in decl["metrics"]:
                mean, std, n = _ours(decl, run, name, metric, profile, seeds)
                paper_mean, paper_std = paper_value(reported, table, run, name, metric)
                out.append({
                    "table": table, "setting": setting(name)["label"], "method": run,
                    "dataset": STREAM, "metric": metric, "mean": mean, "std": std,
                    "n_seeds": n, "paper_mean": paper_mean, "paper_std": paper_std,
                })  # fmt: skip
    return out


def grid(decl: dict[str, Any]) -> Grid:
    """Table 6: one column per setting; the others: rows per setting, columns per metric."""
    reported_only = set(decl.get("reported_only", []))

    def label(run: str) -> str:
        return f"{run} *(reported)*" if run in reported_only else run

    if len(decl["metrics"]) == 1:
        return Grid(rows=("method",), column="setting", method_label=label)
    return Grid(rows=("setting", "method"), column="metric", column_label=short,
                method_label=label)  # fmt: skip


def cited(decl: dict[str, Any], profile: str, seeds: list[int], files: tuple[str, ...]):
    """The result files of every run a target reads (root-relative)."""
    root = layout().root
    return [
        result_file(profile, run, name, seed, file).relative_to(root)
        for run, name in table_cells(decl)
        for seed in seeds
        for file in files
    ]


# ---- the mode-mix identity -------------------------------------------------------------------
def mix_gap(total: float, per_mode: dict[str, float], weights: dict[str, float] = WEIGHTS) -> float:
    """``total - sum_m w_m acc_m``: zero when the steps fall on the modes in the proportions of
    the mode weights (in expectation they do)."""
    return total - sum(w * per_mode[m] for m, w in weights.items())


def mix_sd(per_mode: dict[str, float], *, p: float, steps: int,
           weights: dict[str, float] = WEIGHTS) -> float:  # fmt: skip
    """The sampling std of :func:`mix_gap` for one stream: tasks of geometric length (mean
    ``1/q``, ``q = 1 - p``; ``E[L^2] / E[L]^2 = 2 - q``) each draw their mode from the weights,
    so the step share of a mode has variance ``(2 - q) w (1 - w) / n`` over ``n = steps q + 1``
    tasks; the gap's variance is ``(2 - q) Var_w(acc) / n``."""
    q = 1.0 - p
    mean = sum(w * per_mode[m] for m, w in weights.items())
    var = sum(w * (per_mode[m] - mean) ** 2 for m, w in weights.items())
    return math.sqrt((2.0 - q) * var / (steps * q + 1.0))


def misprint_notes(reported: dict, table: str) -> list[str]:
    """One intro line per paper cell that ``reported.yaml`` marks ``misprinted``."""
    return [
        f"Paper cell {run} at {name} is misprinted: {cell_['misprinted']}."
        for run, entry in reported.get(table, {}).items()
        for name, cell_ in entry.items()
        if isinstance(cell_, dict) and "misprinted" in cell_
    ]


def misprints(reported: dict, table: str, tolerance: float = PAPER_TOLERANCE) -> set[tuple]:
    """The ``(run, setting)`` cells of a reported table whose total disagrees with its
    per-dataset numbers by more than ``tolerance`` points."""
    found = set()
    for run, entry in reported.get(table, {}).items():
        for name, cell_ in entry.items():
            if not isinstance(cell_, dict) or "accuracy_omniglot" not in cell_:
                continue
            per_mode = {m: cell_[f"accuracy_{m}"][0] for m in WEIGHTS}
            if abs(mix_gap(cell_["accuracy"][0], per_mode)) > tolerance:
                found.add((run, name))
    return found
