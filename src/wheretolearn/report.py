"""A table's page for the Snakemake report: its title, cells and fidelity summary as HTML.

The page is made from the table's own files (the Markdown for the title, the intro and the
printed grid; the CSV for the numbers), so it shows exactly what the table holds. The report
shows it as the table's item and, through ``.. raw:: html`` in the captions and the landing
text (workflow/report/), in the report's page itself.

Fidelity: a cell of ours counts as within the paper's when ``|mean - paper_mean| <=
paper_std``; only cells with our mean and the paper's mean and std are counted. At smoke scale
(budgets and data cut down) the count says nothing about the reproduction, and the page says so.
"""

from __future__ import annotations

import argparse
import csv
import html
import re
from pathlib import Path

from wheretolearn.files import write_text_atomic

NOT_MEANINGFUL = {"smoke": "not meaningful at smoke scale (budgets and data are cut down)"}


def _number(value: str | None) -> float | None:
    return float(value) if value not in (None, "") else None


def fidelity(rows: list[dict[str, str]]) -> tuple[int, int, int]:
    """(cells of ours within the paper's std of its mean, cells comparable, cells of ours)."""
    within = comparable = ours = 0
    for row in rows:
        mean, paper, std = (_number(row.get(k)) for k in ("mean", "paper_mean", "paper_std"))
        if mean is None:
            continue
        ours += 1
        if paper is not None and std is not None:
            comparable += 1
            within += abs(mean - paper) <= std
    return within, comparable, ours


def fidelity_text(rows: list[dict[str, str]], profile: str) -> str:
    within, comparable, ours = fidelity(rows)
    if profile in NOT_MEANINGFUL:
        return f"Fidelity: {NOT_MEANINGFUL[profile]}; {ours} cells of ours."
    if not comparable:
        return f"Fidelity: no cell has the paper's mean and std to compare with; {ours} of ours."
    return (
        f"Fidelity: {within} of {comparable} comparable cells within the paper's std of its "
        f"mean ({ours} cells of ours)."
    )


def _inline(text: str) -> str:
    """Markdown's **bold** and *emphasis*, on escaped text."""
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
    return re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def page(markdown: str, rows: list[dict[str, str]], profile: str) -> str:
    """The HTML fragment of a table: its heading, intro, fidelity line and grid."""
    lines = markdown.splitlines()
    heading = lines[0].lstrip("# ").strip()
    grid = [line for line in lines if line.startswith("|") and not line.startswith("|---")]
    intro = [line for line in lines[1:] if line.strip() and not line.startswith("|")]
    out = ['<meta charset="utf-8">', '<section class="wheretolearn-table">']
    out.append(f"<h3>{html.escape(heading)}</h3>")
    out.append(f"<p>{_inline(' '.join(intro))}</p>")  # emphasis may span lines
    out.append(f"<p><strong>{html.escape(fidelity_text(rows, profile))}</strong></p>")
    out.append('<div style="overflow-x:auto"><table>')
    if grid:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _cells(grid[0]))
        out.append(f"<thead><tr>{head}</tr></thead><tbody>")
        for line in grid[1:]:
            out.append("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in _cells(line)) + "</tr>")
        out.append("</tbody>")
    out += ["</table></div>", "</section>"]
    return "\n".join(out) + "\n"


def table_page(args: argparse.Namespace) -> int:
    """``python -m wheretolearn table-page``: write a table's report page."""
    with Path(args.csv).open(newline="") as f:
        rows = list(csv.DictReader(f))
    write_text_atomic(Path(args.out), page(Path(args.md).read_text(), rows, args.profile))
    return 0
