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
from wheretolearn.experiments.fewshot.compose import FAMILY, cell
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


def metrics_of(decl: dict[str, Any]) -> list[str]:
    """A declaration's metrics: one name, or a list (then they are the printed columns)."""
    metric = decl["metric"]
    return [metric] if isinstance(metric, str) else list(metric)


def result_path(profile: str, run: str, shots: int, seed: int, target: str, metric: str) -> Path:
    """Where a metric is read: the evaluation JSON, or for the initial sparsity the training
    log (its epoch-0 record)."""
    if metric == "initial_sparsity":
        return metrics_file(profile, run, shots, seed)
    return eval_file(profile, run, shots, seed, target)


def read_value(path: Path, metric: str) -> float:
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    if metric == "initial_sparsity":
        first = path.read_text().splitlines()[0]
        return 100.0 * float(json.loads(first)["sparsity"])
    return 100.0 * float(json.loads(path.read_text())[metric])


def paper_value(reported: dict, table: str, method: str, shots: int, column: str):
    """The paper's ``(mean, std)`` for a cell, or ``(None, None)`` where it reports none; a
    setting's entry may be keyed by the printed column (dataset or metric)."""
    entry = reported.get(table, {}).get(method, {}).get(shots)
    if isinstance(entry, dict):
        entry = entry.get(column)
    return tuple(entry) if entry else (None, None)


def row(reported, table, shots, method, dataset, metric, mean, std, n, by_metric=False) -> dict:
    column = metric if by_metric else dataset
    paper_mean, paper_std = paper_value(reported, table, method, shots, column)
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


Cell = tuple[str, int, str]  # (run, shots, dataset)


def seeds(decl: dict[str, Any], profile: str, target: str | None = None) -> list[int]:
    """A declaration's seeds: the profile's (for a figure its ``figure_seeds`` where it has
    them), or the first ``decl["seeds"]`` of them, or the first ``target_seeds[target]`` of
    them where the profile gives a count for the target (fewer at smoke scale)."""
    every = params.seeds(profile)
    section = params.section(profile, FAMILY)
    if decl["kind"] == "figure":
        every = list(section.get("figure_seeds", every))
    every = every[: decl["seeds"]] if "seeds" in decl else every
    return every[: section.get("target_seeds", {}).get(target, len(every))]


def rows(
    decl: dict[str, Any],
    cells: list[Cell],
    reported: dict,
    table: str,
    profile: str,
    seeds: list[int],
) -> list[dict[str, Any]]:
    """One row per cell and metric: our mean and std over the table's seeds of the profile,
    and the paper's value; a run prints as its ``labels`` entry where it has one."""
    metrics, out = metrics_of(decl), []
    many, labels = len(metrics) > 1, decl.get("labels", {})
    for run, shots, target in cells:
        method = labels.get(run, run)
        for metric in metrics:
            files = [result_path(profile, run, shots, s, target, metric) for s in seeds]
            mean, std = summarise([read_value(f, metric) for f in files])
            out.append(
                row(reported, table, shots, method, target, metric, mean, std, len(files), many)
            )
    for method in decl.get("reported_only", []):
        for shots in decl["settings"]:
            for target in decl["datasets"]:
                for metric in metrics:
                    out.append(
                        row(reported, table, shots, method, target, metric, None, None, 0, many)
                    )
    return out


def grid(rows_: list[dict[str, Any]]) -> Grid:
    """Datasets as the printed columns; the metrics where a table has several."""
    reported_only = {r["method"] for r in rows_ if r["n_seeds"] == 0}
    many = len({r["metric"] for r in rows_}) > 1
    return Grid(
        rows=("setting", "method"),
        column="metric" if many else "dataset",
        method_label=lambda m: f"{m} *(reported)*" if m in reported_only else m,
    )
