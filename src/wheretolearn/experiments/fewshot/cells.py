"""Few-shot tables from result files alone: mean and std over seeds beside the paper's numbers.

A table's rows come from the evaluation JSONs of every cell (``eval-<dataset>.json`` in each
run folder) and print as one row per setting and method, one column per target dataset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wheretolearn import params
from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.compose import FAMILY, cell, table_cells
from wheretolearn.paths import layout
from wheretolearn.tables import Grid, summarise

INTRO = [
    "Ours: mean ± std over seeds; paper: the published value. Rows marked *reported*",
    "are other papers' numbers that the paper copied; we do not run them.",
]


def eval_file(profile: str, run: str, shots: int, seed: int, target: str) -> Path:
    return layout().run_dir(profile, FAMILY, cell(run, shots), seed) / f"eval-{target}.json"


def metrics_file(profile: str, run: str, shots: int, seed: int) -> Path:
    return layout().run_dir(profile, FAMILY, cell(run, shots), seed) / "metrics.jsonl"


def read_value(path: Path, metric: str) -> float:
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    return 100.0 * float(json.loads(path.read_text())[metric])


def paper_value(reported: dict, table: str, method: str, shots: int, dataset: str):
    """The paper's ``(mean, std)`` for a cell, or ``(None, None)`` where it reports none."""
    entry = reported.get(table, {}).get(method, {}).get(shots)
    if isinstance(entry, dict):
        entry = entry.get(dataset)
    return tuple(entry) if entry else (None, None)


def row(reported, table, shots, method, dataset, metric, mean, std, n) -> dict[str, Any]:
    paper_mean, paper_std = paper_value(reported, table, method, shots, dataset)
    return {
        "table": table,
        "setting": f"{shots}-shot",
        "method": method,
        "dataset": dataset,
        "metric": metric,
        "mean": mean,
        "std": std,
        "n_seeds": n,
        "paper_mean": paper_mean,
        "paper_std": paper_std,
    }


def rows(decl: dict[str, Any], reported: dict, table: str, profile: str) -> list[dict[str, Any]]:
    """One row per cell: our mean and std over the profile's seeds, and the paper's value."""
    seeds, metric, out = params.seeds(profile), decl["metric"], []
    for run, shots, target in table_cells(decl):
        files = [eval_file(profile, run, shots, s, target) for s in seeds]
        mean, std = summarise([read_value(f, metric) for f in files])
        out.append(row(reported, table, shots, run, target, metric, mean, std, len(files)))
    for method in decl.get("reported_only", []):
        for shots in decl["settings"]:
            for target in decl["datasets"]:
                out.append(row(reported, table, shots, method, target, metric, None, None, 0))
    return out


def grid(rows_: list[dict[str, Any]]) -> Grid:
    reported_only = {r["method"] for r in rows_ if r["n_seeds"] == 0}
    return Grid(
        rows=("setting", "method"),
        column="dataset",
        method_label=lambda m: f"{m} *(reported)*" if m in reported_only else m,
    )
