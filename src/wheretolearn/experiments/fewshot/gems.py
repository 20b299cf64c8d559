"""GEMS' tables with ``mixtures`` (``gems_table1``, ``gems_table2``), from result files alone.

A row group per training mixture, a row per method, a column per test dataset: each method's
run tested there, mean ± std over seeds. Multi-MAML (its runs: dataset -> the MAML trained on
that dataset alone) routes a test dataset to its model, and on a dataset none was trained on
averages its models' accuracies per seed. Where the declaration's datasets are all tested
on training distributions (Table 1), two more columns: the training wall time (``timing.json``:
seconds of the finished epochs, validation included; Multi-MAML's is the sum of its models')
and its ratio to Multi-MAML's on the same seed (the paper's from its printed times, whose unit
it does not state).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.cells import eval_file, read_value
from wheretolearn.experiments.fewshot.compose import FAMILY, cell, method_runs, routed
from wheretolearn.paths import layout
from wheretolearn.tables import summarise

INTRO = [
    "Ours: mean ± std over seeds; paper: GEMS' published value (its fractions as %). Rows:",
    "the training mixture and the method; Multi-MAML is one MAML per training dataset (a",
    "task routed to its dataset's model; on a dataset none was trained on, the mean of its",
    "models). `time (s)`: training wall seconds on this machine (Multi-MAML: the sum of its",
    "models'), the paper's in its unstated unit; `time / multi-maml`: the ratio on each seed.",
]
MULTI = "multi-maml"
TIME, RATIO = "time (s)", "time / multi-maml"


def seconds(profile: str, run: str, shots: int, seed: int) -> float:
    """A run's training wall seconds (``timing.json``)."""
    path = layout().run_dir(profile, FAMILY, cell(run, shots), seed) / "timing.json"
    if not path.exists():
        raise UserError(f"missing {path}: the run was trained before its time was recorded; "
                        "delete its folder and run `snakemake` for this table again")  # fmt: skip
    return float(json.loads(path.read_text())["seconds"])


def accuracy(profile: str, runs, target: str, shots: int, seed: int) -> float:
    """A method's accuracy (%) on ``target``: its run's, or Multi-MAML's (module doc)."""
    values = [read_value(eval_file(profile, r, shots, seed, target), "accuracy")
              for r in routed(runs, target)]  # fmt: skip
    return sum(values) / len(values)


def cost(profile: str, runs, shots: int, seed: int) -> float:
    return sum(seconds(profile, r, shots, seed) for r in method_runs(runs))


@dataclass(frozen=True)
class _Table:
    name: str
    profile: str
    seeds: list[int]
    paper: dict[str, Any]  # reported.yaml's entry of the table

    def row(self, label, method, column, metric, values) -> dict[str, Any]:
        mean, std = summarise(values)
        if column == RATIO:
            ref = _paper_ratio(self.paper, method, label)
        else:
            ref = self.paper.get(method, {}).get(label, {}).get(column) or (None, None)
        return {"table": self.name, "setting": label, "method": method, "dataset": column,
                "metric": metric, "mean": mean, "std": std, "n_seeds": len(values),
                "paper_mean": ref[0], "paper_std": ref[1]}  # fmt: skip


def rows(decl, table: str, profile: str, seeds: list[int], cells, reported) -> list[dict]:
    """One row per mixture, method and column (test dataset; with ``time``, the training
    time and its ratio to Multi-MAML's) over the seeds, of the profile's ``cells`` (run,
    shots, dataset): a method whose runs are not all among them, a test dataset none of its
    cells has, a mixture with none of the runs trained on it, is left out. The setting
    printed is the mixture (5-way 1-shot)."""
    (shots,) = decl["settings"]
    t = _Table(table, profile, seeds, reported.get(table, {}))
    runs, tested = {c[0] for c in cells}, {c[2] for c in cells}
    out: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []  # after every accuracy: the printed columns' order
    for label, mixture in decl["mixtures"].items():
        methods = {m: r for m, r in mixture["methods"].items() if set(method_runs(r)) <= runs}
        if not any(isinstance(r, str) for r in methods.values()):
            continue  # none of the runs trained on this mixture is in the profile
        for method, names in methods.items():
            for target in (d for d in mixture["tested_on"] if d in tested):
                values = [accuracy(profile, names, target, shots, s) for s in seeds]
                out.append(t.row(label, method, target, "accuracy", values))
            if decl.get("time") and MULTI in methods:
                times = [cost(profile, names, shots, s) for s in seeds]
                multi = [cost(profile, methods[MULTI], shots, s) for s in seeds]
                ratios = [a / b for a, b in zip(times, multi, strict=True)]
                timing += [t.row(label, method, TIME, "seconds", times),
                           t.row(label, method, RATIO, "ratio", ratios)]  # fmt: skip
    return out + timing


def _paper_ratio(paper: dict, method: str, label: str) -> tuple[float | None, None]:
    ours = paper.get(method, {}).get(label, {}).get(TIME)
    multi = paper.get(MULTI, {}).get(label, {}).get(TIME)
    if not ours or not multi:
        return None, None
    return ours[0] / multi[0], None
