"""GEMS' tables from hand-written result files: Multi-MAML's routing and averaging, the
training time and its ratio, the profile's subsets, the paper's values beside ours."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from wheretolearn.experiments import family
from wheretolearn.experiments.fewshot.compose import cell
from wheretolearn.paths import layout

ROOT = Path(__file__).resolve().parents[2]
FEWSHOT = family("fewshot")
SEED = 0  # the smoke profile runs GEMS' tables on one seed


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch copy of params/ as the project root, with every GEMS result written by hand:
    run r's accuracy on dataset d is ``acc(r, d)``, its training time ``secs(r)``."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    for table in ("gems_table1", "gems_table2", "gems_table5"):
        for run, shots, target in FEWSHOT.target_cells(table, "smoke"):
            folder = layout().run_dir("smoke", "fewshot", cell(run, shots), SEED)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"eval-{target}.json").write_text(json.dumps({"accuracy": acc(run, target)}))
            (folder / "timing.json").write_text(json.dumps({"seconds": secs(run)}))
    return tmp_path


def acc(run: str, target: str) -> float:
    return (len(run) + 3 * len(target)) / 100


def secs(run: str) -> float:
    return 10.0 + len(run)


def rows_of(table: str) -> dict[tuple[str, str, str], dict]:
    path = FEWSHOT.write_table(table, "smoke")[0]
    return {(r["setting"], r["method"], r["dataset"]): r for r in csv.DictReader(path.open())}


def test_table1_routes_multi_maml_and_sums_its_time(project):
    rows = rows_of("gems_table1")
    mixtures = {k[0] for k in rows}
    assert mixtures == {"cub+vgg", "cub+fungi"}  # smoke: no 3- and 4-dataset mixtures
    maml = rows[("cub+vgg", "maml", "cub")]
    assert float(maml["mean"]) == pytest.approx(100 * acc("gems-maml-cv", "cub"))
    assert (float(maml["paper_mean"]), float(maml["paper_std"])) == (50.6, 0.8)
    multi = rows[("cub+fungi", "multi-maml", "fgvc-fungi")]  # Fungi's own model
    assert float(multi["mean"]) == pytest.approx(100 * acc("gems-maml-f", "fgvc-fungi"))
    time = rows[("cub+vgg", "multi-maml", "time (s)")]
    assert float(time["mean"]) == secs("gems-maml-c") + secs("gems-maml-v")
    ratio = rows[("cub+vgg", "bmp", "time / multi-maml")]
    expected = secs("gems-bmp-cv") / (secs("gems-maml-c") + secs("gems-maml-v"))
    assert float(ratio["mean"]) == pytest.approx(expected)
    assert float(ratio["paper_mean"]) == pytest.approx(6.63 / 11.57)
    assert ("cub+fungi", "bmp", "vgg-flowers") not in rows  # not tested there
    md = (layout().table_files("smoke", "fewshot", "gems_table1")[1]).read_text()
    assert "75.10 ± 0.50" in md and "multi-maml" in md


def test_table2_averages_multi_maml_on_an_unseen_dataset(project):
    rows = rows_of("gems_table2")
    assert {k[2] for k in rows} == {"fgvc-fungi", "vgg-flowers"}  # smoke: no Aircraft
    multi = rows[("cub+vgg", "multi-maml", "fgvc-fungi")]
    models = [acc("gems-maml-c", "fgvc-fungi"), acc("gems-maml-v", "fgvc-fungi")]
    assert float(multi["mean"]) == pytest.approx(100 * sum(models) / 2)
    assert float(multi["paper_mean"]) == 36.1
    assert not any(k[2].startswith("time") for k in rows)


def test_table5_prints_the_five_step_runs_under_their_label(project):
    rows = {(r["method"], r["dataset"]): r for r in csv.DictReader(
        FEWSHOT.write_table("gems_table5", "smoke")[0].open())}  # fmt: skip
    methods = ("gems-bmp-k1", "gems-bmp-k5", "gems-mmsup-k1", "gems-mmsup-k5")
    assert set(rows) == {(m, "vgg-flowers") for m in methods}
    five = rows[("gems-bmp-k5", "vgg-flowers")]
    assert float(five["mean"]) == pytest.approx(100 * acc("gems-bmp-cv", "vgg-flowers"))
    assert float(five["paper_mean"]) == 73.9
