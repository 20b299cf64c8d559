"""Tables from results files alone: mean and std over seeds beside the paper's numbers.

``python -m wheretolearn table table4 --profile smoke`` reads the evaluation JSONs of every cell
(paths from :mod:`wheretolearn.pipeline`) and writes ``results/<profile>/table4.{csv,md,tex}``.
The CSV has one row per cell of the paper's table with the columns :data:`COLUMNS`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
from pathlib import Path
from typing import Any

import yaml

from wheretolearn import pipeline
from wheretolearn.errors import UserError
from wheretolearn.files import write_text_atomic

COLUMNS = [
    "table",
    "setting",
    "method",
    "dataset",
    "metric",
    "mean",
    "std",
    "n_seeds",
    "paper_mean",
    "paper_std",
]


def paper_value(table: str, method: str, shots: int, dataset: str) -> tuple[Any, Any]:
    """The paper's ``(mean, std)`` for a cell, or ``(None, None)`` where it reports none."""
    entry = pipeline.reported().get(table, {}).get(method, {}).get(shots)
    if isinstance(entry, dict):
        entry = entry.get(dataset)
    return tuple(entry) if entry else (None, None)


def _value(path: Path, metric: str) -> float:
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    result = json.loads(path.read_text())
    return 100.0 * float(result[metric])


def collect(table: str, profile: str) -> list[dict[str, Any]]:
    """One row per cell: our mean and std over the profile's seeds, and the paper's value."""
    decl, seeds = pipeline.tables()[table], pipeline.seeds(profile)
    rows = []
    for run, shots, target in pipeline.table_cells(table, profile):
        values = [
            _value(pipeline.eval_file(profile, run, shots, s, target), decl["metric"])
            for s in seeds
        ]
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else float("nan")
        rows.append(_row(table, shots, run, target, decl["metric"], mean, std, len(values)))
    for method in decl.get("reported_only", []):
        for shots in decl["settings"]:
            for target in decl["datasets"]:
                rows.append(_row(table, shots, method, target, decl["metric"], None, None, 0))
    return rows


def _row(table, shots, method, dataset, metric, mean, std, n) -> dict[str, Any]:
    paper_mean, paper_std = paper_value(table, method, shots, dataset)
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


def fmt_cell(mean, std) -> str:
    """A table cell: ``mean ± std``, ``mean`` alone without a std, an em dash without a mean."""
    if mean is None:
        return "—"
    return f"{mean:.2f}" if std is None or std != std else f"{mean:.2f} ± {std:.2f}"


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})
    return out.getvalue()


def _grid(rows: list[dict[str, Any]]):
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    keys = list(dict.fromkeys((r["setting"], r["method"]) for r in rows))
    cells = {(r["setting"], r["method"], r["dataset"]): r for r in rows}
    return datasets, keys, cells


def to_markdown(rows: list[dict[str, Any]], title: str, profile: str) -> str:
    datasets, keys, cells = _grid(rows)
    spec = pipeline.profile(profile)
    lines = [
        f"# {rows[0]['table']}: {title}",
        "",
        f"Profile **{profile}**: {spec['description']}. Seeds: {pipeline.seeds(profile)}.",
        "Ours: mean ± std over seeds; paper: the published value. Rows marked *reported*",
        "are other papers' numbers that the paper copied; we do not run them.",
        "",
    ]
    header = ["setting", "method"] + [
        f"{d} ({kind})" for d in datasets for kind in ("ours", "paper")
    ]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for setting, method in keys:
        row0 = cells[(setting, method, datasets[0])]
        label = f"{method} *(reported)*" if row0["n_seeds"] == 0 else method
        values = []
        for d in datasets:
            r = cells[(setting, method, d)]
            values += [fmt_cell(r["mean"], r["std"]), fmt_cell(r["paper_mean"], r["paper_std"])]
        lines.append("| " + " | ".join([setting, label, *values]) + " |")
    return "\n".join(lines) + "\n"


def to_latex(rows: list[dict[str, Any]], title: str, profile: str) -> str:
    datasets, keys, cells = _grid(rows)
    tex = lambda s: s.replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--")  # noqa: E731
    cols = "ll" + "rr" * len(datasets)
    lines = [
        f"% {title} (profile {profile}); ours vs paper",
        rf"\begin{{tabular}}{{{cols}}}",
        r"\toprule",
        "Setting & Method & "
        + " & ".join(rf"\multicolumn{{2}}{{c}}{{{tex(d)}}}" for d in datasets)
        + r" \\",
        " & & " + " & ".join("ours & paper" for _ in datasets) + r" \\",
        r"\midrule",
    ]
    for setting, method in keys:
        values = []
        for d in datasets:
            r = cells[(setting, method, d)]
            values += [
                tex(fmt_cell(r["mean"], r["std"])),
                tex(fmt_cell(r["paper_mean"], r["paper_std"])),
            ]
        lines.append(" & ".join([setting, tex(method), *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table(table: str, profile: str) -> list[Path]:
    decl = pipeline.tables()[table]
    rows = collect(table, profile)
    csv_path, md_path, tex_path = pipeline.table_files(profile, table)
    write_text_atomic(csv_path, to_csv(rows))
    write_text_atomic(md_path, to_markdown(rows, decl["title"], profile))
    write_text_atomic(tex_path, to_latex(rows, decl["title"], profile))
    return [csv_path, md_path, tex_path]


def _table_main(args: argparse.Namespace) -> int:
    from wheretolearn import continual_pipeline, continual_tables

    continual = continual_pipeline.names("table")
    if args.table in continual:
        paths = continual_tables.write_table(args.table, args.profile)
    elif args.table in pipeline.tables():
        pipeline.require_loop(args.profile, "fewshot")
        paths = write_table(args.table, args.profile)
    else:
        known = [*pipeline.tables(), *continual]
        raise UserError(f"unknown table {args.table!r}; known: {', '.join(known)}")
    for path in paths:
        print(path)
    return 0


FEWSHOT_METRIC_TABLES = ("table1", "table3", "table4")


def metric_tables(loop: str) -> list[str]:
    """The tables whose means a loop's metrics file holds (few-shot: ``metrics.json``,
    continual: ``metrics-continual.json``)."""
    from wheretolearn import continual_pipeline

    return list(FEWSHOT_METRIC_TABLES) if loop == "fewshot" else continual_pipeline.names("table")


def metrics(profile: str, loop: str = "fewshot") -> dict[str, dict[str, float]]:
    """Every cell's mean, keyed by table then ``setting/method/dataset`` (DVC's metrics);
    tables with several metrics per cell (the continual ones) add ``/metric``."""
    pipeline.require_loop(profile, loop)
    out = {}
    for table in metric_tables(loop):
        path = pipeline.table_files(profile, table)[0]
        with path.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["mean"]]
        several = len({r["metric"] for r in rows}) > 1
        out[table] = {
            f"{r['setting']}/{r['method']}/{r['dataset']}"
            + (f"/{r['metric']}" if several else ""): round(float(r["mean"]), 4)
            for r in rows
        }
    return out


def _metrics_main(args: argparse.Namespace) -> int:
    write_text_atomic(Path(args.out), json.dumps(metrics(args.profile, args.loop), indent=2))
    return 0


def _compose_main(args: argparse.Namespace) -> int:
    params = pipeline.compose(args.run, args.shots, args.profile)
    write_text_atomic(Path(args.out), yaml.safe_dump(params, sort_keys=False))
    return 0


def _pull_main(args: argparse.Namespace) -> int:
    pipeline.pull_cached(args.profile)
    return 0
