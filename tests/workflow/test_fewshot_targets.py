"""The few-shot targets beyond Tables 1, 3, 4: scans that no profile flattens, a profile's
shorter scans, tables of several metrics, and runs that start from another run (Table S4)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wheretolearn import params
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import family
from wheretolearn.experiments.fewshot.cells import eval_file, metrics_file
from wheretolearn.experiments.fewshot.compose import cell, phases, target_runs

FEWSHOT = family("fewshot")
ROOT = Path(__file__).resolve().parents[2]


def compose(run, shots, profile):
    return FEWSHOT.compose(cell(run, shots), profile)


@pytest.fixture
def project(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_scan_keeps_its_value_under_the_profiles_budget():
    smoke = params.section("smoke", "fewshot")
    assert smoke["override"]["train"]["inner_steps"] == 3  # what a plain run gets in smoke
    for k in (5, 25):
        run = compose(f"sparse-maml-k{k}", 5, "smoke")
        assert run["train"]["inner_steps"] == k and run["eval"]["inner_steps"] == k
        assert run["train"]["batches_per_epoch"] == smoke["scans"]["train"]["batches_per_epoch"]
    assert compose("sparse-maml-lr0.5", 5, "smoke")["method"]["alpha"] == 0.5
    assert compose("sparse-maml-lr0.5", 5, "smoke")["train"]["inner_steps"] == 25
    assert compose("sparse-maml-h16", 1, "smoke")["model"]["hidden"] == 16
    assert compose("sparse-maml", 5, "smoke")["train"]["inner_steps"] == 3  # no scan: budget
    paper = compose("sparse-maml-k25", 5, "paper")
    assert paper["model"]["hidden"] == 64 and paper["train"]["batches_per_epoch"] == 100


def test_a_profile_may_draw_fewer_scan_points_but_only_declared_ones(project):
    decl = FEWSHOT.declarations()["figure2"]
    smoke = target_runs("figure2", decl, "smoke")
    assert set(smoke) < set(decl["runs"]) and "sparse-maml-k25" in smoke
    assert target_runs("figure2", decl, "paper") == decl["runs"]
    assert {r for r, _, _ in FEWSHOT.target_cells("figure2", "smoke")} == set(smoke)
    path = project / "params" / "profiles" / "smoke.yaml"
    path.write_text(path.read_text().replace("figure2: [maml-k5,", "figure2: [maml-k7,"))
    with pytest.raises(ConfigError, match=r"target_runs.figure2: \['maml-k7'\] are not runs"):
        target_runs("figure2", decl, "smoke")


def test_a_second_phase_lists_its_first_and_refuses_a_cycle(project):
    assert phases("two-phase-init50", 1) == ["maml", "two-phase-init50"]
    assert set(FEWSHOT.cells("tableS4")) >= {cell("maml", 1), cell("two-phase-init0", 5)}
    assert FEWSHOT.first_phase(cell("two-phase-init0", 5), 1, "smoke") == cell("maml", 5)
    assert FEWSHOT.first_phase(cell("maml", 5), 1, "smoke") is None
    path = project / "params" / "fewshot" / "runs.yaml"
    text = path.read_text().replace("all: {method: {name: anil}}", "all: {method: {name: anil},"
                                    " train: {init_from: two-phase-init0}}")  # fmt: skip
    path.write_text(text.replace("init_from: maml", "init_from: anil"))
    with pytest.raises(ConfigError, match="circular"):
        phases("two-phase-init0", 5)


def _fake_results(profile, target, value):
    for run, shots, dataset in FEWSHOT.target_cells(target, profile):
        for seed in params.seeds(profile):
            path = eval_file(profile, run, shots, seed, dataset)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"accuracy": value(seed), "sparsity": 0.25}))
            log = metrics_file(profile, run, shots, seed)
            log.write_text(json.dumps({"epoch": 0, "sparsity": 0.5 + seed / 10}) + "\n")


def test_a_table_of_several_metrics_prints_them_as_columns(project):
    _fake_results("smoke", "tableS4", lambda seed: 0.4 + seed / 10)
    csv_path, md_path, _ = FEWSHOT.write_table("tableS4", "smoke")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 2 * 2 * 3  # runs x settings x metrics
    got = {(r["method"], r["setting"], r["metric"]): r for r in rows}
    initial = got[("two-phase-init50", "5-shot", "initial_sparsity")]
    assert float(initial["mean"]) == pytest.approx(55.0)  # epoch-0 record: 50% and 60%
    assert float(initial["paper_mean"]) == 50.0
    accuracy = got[("two-phase-init0", "1-shot", "accuracy")]
    assert float(accuracy["mean"]) == pytest.approx(45.0)
    assert (float(accuracy["paper_mean"]), float(accuracy["paper_std"])) == (46.42, 0.58)
    header = md_path.read_text().splitlines()[6]
    assert "initial_sparsity (ours)" in header and "accuracy (paper)" in header


def test_a_second_phase_trains_after_its_first_in_the_dag():
    out = subprocess.run(
        ["snakemake", "tableS4", "-n", "-p", "--forceall", "--config", "profile=smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
        },
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    folder = "results/smoke/fewshot/runs/two-phase-init0/5shot/seed1"
    command = next(line for line in text.splitlines() if f"--out {folder}" in line)
    assert "--init-from results/smoke/fewshot/runs/maml/5shot/seed1" in command


def test_resnet_tables_run_the_resnet_protocol_on_three_seeds():
    paper = compose("resnet-sparse-maml", 5, "paper")
    assert paper["model"] == {**paper["model"], "name": "resnet12", "size": "small"}
    assert paper["method"]["alpha"] == 0.05 and paper["train"]["clip"] == 10
    assert paper["train"]["inner_steps"] == 35 and paper["eval"]["inner_steps"] == 35
    assert paper["train"]["meta_optimizer"] == {"name": "adam", "lr": 0.01}
    assert paper["train"]["theta_optimizer"] == {"name": "adam", "lr": 0.001}
    assert paper["train"]["keep_best"] == 3
    assert compose("resnet-large-anil", 1, "paper")["model"]["size"] == "large"
    assert compose("resnet-large-anil", 1, "paper")["method"]["name"] == "anil"
    assert FEWSHOT.seeds("table2", "paper") == [0, 1, 2]  # the paper's 3 seeds of 5
    assert FEWSHOT.seeds("table1", "paper") == [0, 1, 2, 3, 4]
    files = FEWSHOT.evaluations("tableS1", "paper")
    assert len(files) == 8 * 2 * 3 and not any("seed3" in str(f) for f in files)
    smoke = compose("resnet-large-sparse-maml", 5, "smoke")
    assert smoke["model"]["width_scale"] == 0.125 and smoke["model"]["size"] == "large"
    assert compose("sparse-maml", 5, "smoke")["model"].get("width_scale", 1.0) == 1.0


def test_resnet_widths_scale_and_conv4_refuses_a_width_scale():
    from wheretolearn.models.build import resnet_widths
    from wheretolearn.models.config import ModelConfig

    base = {"hidden": 64, "bias": True, "batchnorm": "transductive"}
    small = ModelConfig(name="resnet12", width_scale=0.125, **base)
    assert resnet_widths(small) == (8, 16, 32, 64)
    assert resnet_widths(ModelConfig(name="resnet12", size="large", **base)) == (64, 160, 320, 640)
    with pytest.raises(ConfigError, match="width_scale: 0.5 scales ResNet-12 only"):
        ModelConfig(name="conv4", width_scale=0.5, **base)


def test_a_table_reads_the_snapshot_ensembles_accuracy(project):
    seeds = FEWSHOT.seeds("tableS1", "paper")
    for run, shots, dataset in FEWSHOT.target_cells("tableS1", "paper"):
        for seed in seeds:
            path = eval_file("paper", run, shots, seed, dataset)
            path.parent.mkdir(parents=True, exist_ok=True)
            values = {"accuracy": 0.5, "ensemble_accuracy": 0.6 + seed / 10, "sparsity": 0.2}
            path.write_text(json.dumps(values))
    rows = list(csv.DictReader(FEWSHOT.write_table("tableS1", "paper")[0].open()))
    got = {(r["method"], r["setting"], r["metric"]): r for r in rows}
    ensemble = got[("resnet-large-sparse-relu-maml", "5-shot", "ensemble_accuracy")]
    assert float(ensemble["mean"]) == pytest.approx(70.0)  # seeds 0, 1, 2
    assert ensemble["n_seeds"] == "3"
    assert float(ensemble["paper_mean"]) == 75.60
    assert float(got[("resnet-maml", "5-shot", "accuracy")]["paper_std"]) == 0.23  # Table S1's
    smoke = {r for r, _, _ in FEWSHOT.target_cells("tableS1", "smoke")}
    assert smoke == {"resnet-maml", "resnet-anil", "resnet-sparse-maml", "resnet-sparse-relu-maml"}
