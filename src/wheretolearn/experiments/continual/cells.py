"""Continual-learning tables from result files alone, the paper's numbers beside ours.

A table reads every run's ``summary.json`` and has the columns of every family
(:data:`wheretolearn.tables.COLUMNS`): one row per benchmark, run and metric, mean and std over
the seeds; it prints as one row per benchmark, setting and method, one column per metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wheretolearn import params
from wheretolearn.errors import UserError
from wheretolearn.experiments import paper_value, read_result
from wheretolearn.experiments.continual.compose import FAMILY, benchmark, cell, table_cells
from wheretolearn.paths import layout
from wheretolearn.tables import Grid, summarise

INTRO = [
    "Ours: mean ± std over seeds; paper: the published value. Rows marked *(paper:",
    "reported)*: the paper copied its numbers from the La-MAML paper; ours are our runs.",
]


def seeds(decl: dict[str, Any], profile: str) -> list[int]:
    """The seeds of a table or figure: the profile's ``seeds`` or its ``figure_seeds``."""
    if decl["seeds"] == "figure_seeds":
        return list(params.section(profile, FAMILY)["figure_seeds"])
    return params.seeds(profile)


def result_file(profile: str, run: str, bench: str, seed: int) -> Path:
    return layout().run_dir(profile, FAMILY, cell(run, bench), seed) / "summary.json"


SHORT = {
    "retained_accuracy": "RA",
    "bti": "BTI",
    "learning_accuracy": "LA",
    "final_accuracy": "final acc.",
}


def short(metric: str) -> str:
    return SHORT.get(metric, metric.removeprefix("sparsity_"))


def layer_labels(parameters: dict[str, int]) -> dict[str, str]:
    """``W1, W2, ...`` for weight tensors and ``b1, ...`` for biases, in the order of
    ``parameters`` (the model's, input to output), mapped to the tensor names."""
    out: dict[str, str] = {}
    for kind, letter in (("weight", "W"), ("bias", "b")):
        tensors = [n for n in parameters if n.rsplit(".", 1)[-1] == kind]
        out.update({f"{letter}{i + 1}": n for i, n in enumerate(tensors)})
    return out


def metric_value(result: dict[str, Any], metric: str) -> float:
    """A metric of one run in percent: RA, BTI, LA and final accuracy are stored in percent,
    sparsities as fractions (``sparsity_W1``: the first weight tensor, ``sparsity_overall``)."""
    if not metric.startswith("sparsity_"):
        return float(result[metric])
    label = metric.removeprefix("sparsity_")
    if label == "overall":
        return 100.0 * float(result["sparsity"]["final_overall"])
    labels = layer_labels(result["parameters"])
    if label not in labels:
        raise UserError(f"no tensor {label} in a model with tensors {list(result['parameters'])}")
    return 100.0 * float(result["sparsity"]["final"][labels[label]])


def rows(decl: dict[str, Any], reported: dict, name: str, profile: str) -> list[dict[str, Any]]:
    """One row per benchmark, run and metric: mean and std over seeds, and the paper's value."""
    out = []
    for run, bench in table_cells(decl):
        if run not in decl["runs"]:
            continue  # a sweep's runs are drawn, not tabulated
        results = [read_result(result_file(profile, run, bench, s)) for s in seeds(decl, profile)]
        labels = benchmark(bench)
        for metric in decl["metrics"]:
            mean, std = summarise([metric_value(r, metric) for r in results])
            paper_mean, paper_std = paper_value(reported, name, run, bench, metric)
            out.append(
                {
                    "table": name,
                    "setting": labels["setting"],
                    "method": run,
                    "dataset": labels["dataset"],
                    "metric": metric,
                    "mean": mean,
                    "std": std,
                    "n_seeds": len(results),
                    "paper_mean": paper_mean,
                    "paper_std": paper_std,
                }
            )
    return out


def grid(reported: dict, name: str) -> Grid:
    def label(run: str) -> str:
        copied = reported.get(name, {}).get(run, {}).get("reported")
        return f"{run} *(paper: reported)*" if copied else run

    return Grid(rows=("dataset", "setting", "method"), column="metric", column_label=short,
                method_label=label)  # fmt: skip
