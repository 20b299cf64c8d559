"""Tables from rows, for every family: CSV, Markdown and LaTeX, ours beside the paper's.

A family's table is a list of rows with the columns :data:`COLUMNS`, one per cell of the
paper's table (a cell: a row key, such as setting and method, and a column key, such as the
dataset or the metric), with our mean and std over seeds and the paper's value. The family says
which columns make the rows and the columns of the printed grid (:class:`Grid`).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
Row = dict[str, Any]


def summarise(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std over seeds (std NaN for a single seed)."""
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else float("nan")


def fmt_cell(mean, std) -> str:
    """A table cell: ``mean ± std``, ``mean`` alone without a std, an em dash without a mean."""
    if mean is None:
        return "—"
    return f"{mean:.2f}" if std is None or std != std else f"{mean:.2f} ± {std:.2f}"


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})
    return out.getvalue()


@dataclass(frozen=True)
class Grid:
    """How a family prints its rows: ``rows`` columns make a printed row (the last is the
    method), ``column`` makes the printed columns (ours and paper for each value)."""

    rows: tuple[str, ...]
    column: str
    column_label: Callable[[str], str] = str
    method_label: Callable[[str], str] = str

    def layout(self, rows: list[Row]):
        columns = list(dict.fromkeys(r[self.column] for r in rows))
        keys = list(dict.fromkeys(tuple(r[k] for k in self.rows) for r in rows))
        cells = {(*(r[k] for k in self.rows), r[self.column]): r for r in rows}
        return columns, keys, cells

    def values(self, cells, key: tuple, columns: list[str]) -> list[str]:
        out = []
        for column in columns:
            r = cells.get((*key, column))
            if r is None:  # a row without this column (GEMS: a mixture not tested there)
                out += ["", ""]
                continue
            out += [fmt_cell(r["mean"], r["std"]), fmt_cell(r["paper_mean"], r["paper_std"])]
        return out

    def labels(self, key: tuple) -> list[str]:
        return [*key[:-1], self.method_label(key[-1])]


def to_markdown(rows: list[Row], grid: Grid, heading: str, intro: list[str]) -> str:
    columns, keys, cells = grid.layout(rows)
    header = [*grid.rows] + [
        f"{grid.column_label(c)} ({kind})" for c in columns for kind in ("ours", "paper")
    ]
    lines = [f"# {heading}", "", *intro, ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        lines.append("| " + " | ".join(grid.labels(key) + grid.values(cells, key, columns)) + " |")
    return "\n".join(lines) + "\n"


def _tex(text: str) -> str:
    return text.replace("_", r"\_").replace("±", r"$\pm$").replace("—", "--").replace("*", "")


def to_latex(rows: list[Row], grid: Grid, caption: str) -> str:
    columns, keys, cells = grid.layout(rows)
    head = " & ".join(k.capitalize() for k in grid.rows)
    multi = " & ".join(rf"\multicolumn{{2}}{{c}}{{{_tex(grid.column_label(c))}}}" for c in columns)
    lines = [
        f"% {caption}; ours vs paper",
        rf"\begin{{tabular}}{{{'l' * len(grid.rows)}{'rr' * len(columns)}}}",
        r"\toprule",
        f"{head} & {multi}" + r" \\",
        " &" * len(grid.rows) + " " + " & ".join("ours & paper" for _ in columns) + r" \\",
        r"\midrule",
    ]
    for key in keys:
        row = grid.labels(key) + grid.values(cells, key, columns)
        lines.append(" & ".join(_tex(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write(paths: list[Path], rows: list[Row], grid: Grid, heading: str, intro: list[str],
          caption: str) -> list[Path]:  # fmt: skip
    """Write the CSV, Markdown and LaTeX files ``paths`` of a table."""
    csv_path, md_path, tex_path = paths
    write_text_atomic(csv_path, to_csv(rows))
    write_text_atomic(md_path, to_markdown(rows, grid, heading, intro))
    write_text_atomic(tex_path, to_latex(rows, grid, caption))
    return list(paths)
