"""The Snakemake report of a small built target, opened in a real headless browser.

In a clone of this repository: the smoke profile's Table S5 (12 short continual trainings on
real offline MNIST digits) and Figure 4 (2 more), then ``snakemake --report report.html`` (the
self-contained HTML). Chromium renders it; the rendered page must hold the landing text with
the profile, each table's title, a number of its CSV and its fidelity line. Needs
``chromium`` (the nox ``tests`` session installs it as root; skipped without it).
"""

from __future__ import annotations

import csv
import html
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("tableS5", "figure4")
TABLES = {"tableS5": "results/smoke/continual/tables/tableS5"}
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
    "--dump-dom",
]


def sh(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "WHERETOLEARN_DATA": str(cwd / "data")}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def rendered(browser: str, page: Path, profile_dir: Path) -> str:
    """The DOM of ``page`` after its scripts ran, as text (entities decoded)."""
    cmd = [browser, *BROWSER_FLAGS, f"--user-data-dir={profile_dir}", page.as_uri()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return html.unescape(result.stdout)


def check_report(clone: Path, browser: str, scratch: Path) -> None:
    """Build the report of ``TARGETS`` in ``clone`` (built) and check it in the browser."""
    start = time.monotonic()
    sh(clone, "snakemake", *TARGETS, "--config", "profile=smoke", "--report", "report.html")
    print(f"report: {time.monotonic() - start:.0f} s")
    raw = (clone / "report.html").read_text()
    assert "System Message" not in raw  # every caption and the landing text are valid rst
    assert "drawn from the result files it cites" in raw  # Figure 4's caption
    start = time.monotonic()
    dom = rendered(browser, clone / "report.html", scratch / "browser")
    print(f"browser: {time.monotonic() - start:.0f} s")
    shown = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)  # the page's text only
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", shown)).split())
    assert "Learning where to learn: the reproduction bundle" in text
    assert "Profile: smoke ." in text and "The smoke profile runs" in text
    assert "How to read our numbers against the paper's" in text
    for name, stem in TABLES.items():
        title = (clone / f"{stem}.md").read_text().splitlines()[0].lstrip("# ")
        assert title.startswith(f"{name}: ") and title in text, title
        rows = list(csv.DictReader((clone / f"{stem}.csv").open()))
        number = next(f"{float(r['mean']):.2f}" for r in rows if r["mean"])
        assert number in text, (name, number)
    assert text.count("Fidelity: not meaningful at smoke scale") == len(TABLES)


@pytest.mark.slow
def test_report_shows_every_table_with_its_numbers_in_a_browser(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git repository")
    if not os.environ.get("WHERETOLEARN_MIRROR"):
        pytest.skip("needs the offline data mirror (WHERETOLEARN_MIRROR)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("needs chromium (`apt-get install chromium`; nox -s tests installs it)")
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(ROOT), clone.name)
    start = time.monotonic()
    sh(clone, "snakemake", *TARGETS, "--cores", "all", "--config", "profile=smoke")
    print(f"smoke {' '.join(TARGETS)}: {time.monotonic() - start:.0f} s")
    check_report(clone, browser, tmp_path)
