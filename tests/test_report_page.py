"""A table's report page (wheretolearn.report): the title, the cells and the fidelity count."""

from __future__ import annotations

from wheretolearn import report

MARKDOWN = """# tableX: Accuracy (%) & more

Profile **paper**: the paper's protocol. Seeds: [0, 1].
Rows marked *reported* are other papers' numbers.

| setting | method | a (ours) | a (paper) |
|---|---|---|---|
| 1-shot | maml | 51.70 ± 1.27 | 50.00 ± 2.00 |
| 1-shot | anil <b> | — | 40.00 ± 1.00 |
"""


def row(mean, paper_mean="", paper_std=""):
    return {"mean": mean, "paper_mean": paper_mean, "paper_std": paper_std}


ROWS = [
    row("51.7", "50.0", "2.0"),  # within
    row("46.0", "50.0", "2.0"),  # outside
    row("60.0", "50.0"),  # the paper gives no std: not comparable
    row("33.0"),  # the paper has no value
    row("", "40.0", "1.0"),  # reported only: no number of ours
]


def test_fidelity_counts_only_cells_with_both_values():
    assert report.fidelity(ROWS) == (1, 2, 4)
    assert "1 of 2 comparable cells" in report.fidelity_text(ROWS, "paper")
    assert "no cell has the paper's mean and std" in report.fidelity_text(ROWS[2:], "paper")


def test_smoke_fidelity_is_not_meaningful():
    assert "not meaningful at smoke scale" in report.fidelity_text(ROWS, "smoke")


def test_page_holds_title_intro_and_every_cell_escaped():
    page = report.page(MARKDOWN, ROWS, "paper")
    assert "<h3>tableX: Accuracy (%) &amp; more</h3>" in page
    assert "Profile <strong>paper</strong>" in page and "<em>reported</em>" in page
    assert "<th>a (ours)</th>" in page and "<td>51.70 ± 1.27</td>" in page
    assert "anil &lt;b&gt;" in page and "|---" not in page
    assert page.count("<tr>") == 3  # the header and two rows
