"""Continual-learning tables from result files alone, the paper's numbers beside ours.

``python -m wheretolearn table table5 --profile smoke`` reads every run's ``result.json`` (paths
from :mod:`wheretolearn.continual_pipeline`) and writes ``results/<profile>/table5.{csv,md,tex}``
with the few-shot tables' columns (:data:`wheretolearn.tables.COLUMNS`): one row per benchmark,
run and metric, mean and std over the profile's seeds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from wheretolearn import continual_pipeline as cp
from wheretolearn import pipeline
from wheretolearn.errors import UserError
from wheretolearn.files import write_text_atomic
from wheretolearn.tables import fmt_cell, to_csv

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


def read_result(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    return json.loads(path.read_text())


def paper_value(name: str, run: str, bench: str, metric: str) -> tuple[Any, Any]:
    """The paper's ``(mean, std)`` of a cell; ``(None, None)`` where it reports none."""
    value = cp.reported().get(name, {}).get(run, {}).get(bench, {}).get(metric)
    if value is None:
        return None, None
    return tuple(value) if isinstance(value, list) else (value, None)


def is_reported(name: str, run: str) -> bool:
    """Whether the paper copied this row's numbers from other work."""
    return bool(cp.reported().get(name, {}).get(run, {}).get("reported"))


def summarise(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else float("nan")


def collect(name: str, profile: str) -> list[dict[str, Any]]:
    """One row per benchmark, run and metric: mean and std over seeds, and the paper's value."""
    decl, seeds = cp.declarations()[name], cp.seeds(name, profile)
    rows = []
    for run, bench in cp.cells(name):
        if run not in decl["runs"]:
            continue  # a sweep's runs are drawn, not tabulated
        results = [read_result(cp.result_file(profile, run, bench, s)) for s in seeds]
        labels = cp.benchmark(bench)
        for metric in decl["metrics"]:
            mean, std = summarise([metric_value(r, metric) for r in results])
            paper_mean, paper_std = paper_value(name, run, bench, metric)
            rows.append(
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
    return rows


def _grid(rows: list[dict[str, Any]]):
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    keys = list(dict.fromkeys((r["dataset"], r["setting"], r["method"]) for r in rows))
    cells = {(r["dataset"], r["setting"], r["method"], r["metric"]): r for r in rows}
    return metrics, keys, cells


def _label(name: str, method: str) -> str:
    return f"{method} *(paper: reported)*" if is_reported(name, method) else method


def to_markdown(rows: list[dict[str, Any]], name: str, profile: str) -> str:
    metrics, keys, cells = _grid(rows)
    spec = cp.profile_section(profile)
    lines = [
        f"# {name}: {cp.declarations()[name]['title']}",
        "",
        f"Profile **{profile}**: {spec['description']}. Seeds: {cp.seeds(name, profile)}.",
        "Ours: mean ± std over seeds; paper: the published value. Rows marked *(paper:",
        "reported)*: the paper copied its numbers from the La-MAML paper; ours are our runs.",
        "",
    ]
    header = ["dataset", "setting", "method"] + [
        f"{short(m)} ({kind})" for m in metrics for kind in ("ours", "paper")
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for dataset, setting, method in keys:
        values = []
        for m in metrics:
            r = cells[(dataset, setting, method, m)]
            values += [fmt_cell(r["mean"], r["std"]), fmt_cell(r["paper_mean"], r["paper_std"])]
        lines.append("| " + " | ".join([dataset, setting, _label(name, method), *values]) + " |")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--").replace("*", "")


def to_latex(rows: list[dict[str, Any]], name: str, profile: str) -> str:
    metrics, keys, cells = _grid(rows)
    lines = [
        f"% {cp.declarations()[name]['title']} (profile {profile}); ours vs paper",
        rf"\begin{{tabular}}{{lll{'rr' * len(metrics)}}}",
        r"\toprule",
        "Dataset & Setting & Method & "
        + " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex(short(m))}}}" for m in metrics)
        + r" \\",
        " & & & " + " & ".join("ours & paper" for _ in metrics) + r" \\",
        r"\midrule",
    ]
    for dataset, setting, method in keys:
        values = []
        for m in metrics:
            r = cells[(dataset, setting, method, m)]
            values += [fmt_cell(r["mean"], r["std"]), fmt_cell(r["paper_mean"], r["paper_std"])]
        row = [dataset, setting, _label(name, method), *values]
        lines.append(" & ".join(_tex(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(name: str, profile: str) -> list[Path]:
    rows = collect(name, profile)
    csv_path, md_path, tex_path = pipeline.table_files(profile, name)
    write_text_atomic(csv_path, to_csv(rows))
    write_text_atomic(md_path, to_markdown(rows, name, profile))
    write_text_atomic(tex_path, to_latex(rows, name, profile))
    return [csv_path, md_path, tex_path]
