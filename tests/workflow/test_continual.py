"""Continual-learning targets without training: run composition and validation in every
profile, table aggregation and figures from hand-written result files, and the DAG."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wheretolearn import dvc, params, stages
from wheretolearn.errors import ConfigError, UserError
from wheretolearn.experiments import family
from wheretolearn.experiments.continual.cells import layer_labels, metric_value, result_file
from wheretolearn.experiments.continual.compose import cell, table_cells
from wheretolearn.paths import layout
from wheretolearn.tables import COLUMNS

CONTINUAL = family("continual")


def compose(run, bench, profile):
    return CONTINUAL.compose(cell(run, bench), profile)


def cells(name):
    return table_cells(CONTINUAL.declarations()[name])


def seeds(name, profile):
    return CONTINUAL.seeds(name, profile)


def write_table(name, profile):
    return CONTINUAL.write_table(name, profile)


def datasets(profile):
    found = {
        d
        for n in CONTINUAL.targets()
        for c in CONTINUAL.cells(n)
        for d in CONTINUAL.datasets(c, profile)
    }
    return sorted(found)


ROOT = Path(__file__).resolve().parents[2]
PROFILES = ["paper", "smoke", "real-offline"]
TARGETS = ["table5", "tableS5", "tableS7", "figure3", "figure4", "figureS3", "figureS4"]
MLP = {
    "layers.0.weight": 78400,
    "layers.0.bias": 100,
    "layers.1.weight": 10000,
    "layers.1.bias": 100,
    "layers.2.weight": 1000,
    "layers.2.bias": 10,
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch copy of params/ as the project root (results go under it)."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def every_cell():
    return sorted({c for name in CONTINUAL.targets() for c in cells(name)})


# ---- composition and validation ---------------------------------------------------------


# The budget keys a profile may cap with ``limits`` (declared here, not read from a profile).
LIMITABLE = {"learner.glances", "train.epochs"}


def from_params_file(run, bench):
    """A continual run's method, learner, stream and model read straight from
    params/continual/runs.yaml, with no profile (notes left out)."""
    spec = yaml.safe_load((ROOT / "params" / "continual" / "runs.yaml").read_text())

    def entry(name):
        own = dict(spec["runs"][name])
        parent = own.pop("from", None)
        return params.deep_merge(entry(parent), own) if parent else own

    e = entry(run)
    merged = {}
    for layer in (spec["base"], spec["benchmarks"][bench]["params"], e.get("all"), e.get(bench)):
        merged = params.deep_merge(merged, {k: v for k, v in (layer or {}).items() if k != "notes"})
    return merged


@pytest.mark.parametrize("profile", PROFILES)
def test_every_continual_run_composes_and_profiles_keep_the_algorithm(profile):
    limits = params.profile(profile)["continual"]["limits"]
    assert set(limits) <= LIMITABLE, limits
    for run, bench in every_cell():
        composed = compose(run, bench, profile)
        declared = from_params_file(run, bench)
        assert composed["method"] == declared["method"], (run, bench)
        for key, value in composed["learner"].items():
            expected = declared["learner"][key]
            if f"learner.{key}" in limits:
                expected = min(expected, limits[f"learner.{key}"])
            assert value == expected, (profile, run, bench, key)
        for key in ("benchmark", "classes_per_task", "flatten"):
            assert composed["stream"].get(key) == declared["stream"].get(key), (run, bench, key)
        model = declared.get("model", {})
        assert composed["model"]["name"] == model.get("name", "mlp")
        if "hidden" in model:
            assert composed["model"]["hidden"] == model["hidden"]
        train = declared.get("train", {})
        for key in ("batch_size", "memories", "replay_batch_size", "clip_norm"):
            if key in train:
                assert composed["train"][key] == train[key], (profile, run, bench, key)


def test_table_s6_and_s7_values_reach_the_runs():
    run = compose("la-maml", "rotations", "paper")
    assert run["method"] == {"name": "la-maml", "alpha": 0.15}
    assert run["learner"] == {"name": "lookahead", "meta_lr": 0.3, "glances": 5}
    assert run["stream"]["tasks"] == 20 and run["stream"]["per_task"] == 1000
    assert run["model"] == {"name": "mlp", "hidden": [100, 100]}
    many = compose("la-maml", "many-permutations", "paper")
    assert many["learner"]["glances"] == 10 and many["train"]["memories"] == 500
    assert "--opt_lr 0.1" in many["notes"]
    sparse = compose("sparse-la-maml", "many-permutations", "paper")
    assert sparse["method"] == {
        "name": "sparse-maml",
        "init": "constant",
        "ste_scale": 1.0,
        "alpha": 0.05,
        "init_shift": 0.05,
    }
    # Table S6 gamma_m 0.75, halved for the authors' 0.5 straight-through factor
    assert sparse["learner"]["meta_lr"] == 0.375 and "reconstruction" in sparse["notes"]
    perm = compose("sparse-la-maml", "permutations", "paper")
    assert (perm["method"]["alpha"], perm["learner"]["glances"]) == (0.1, 10)
    cifar = compose("la-maml", "split-cifar10-1000", "paper")
    assert cifar["method"]["alpha"] == 0.01 and cifar["learner"]["meta_lr"] == 0.01
    assert cifar["stream"]["flatten"] is False and cifar["model"]["name"] == "convnet"
    er = compose("er", "split-cifar10-200", "paper")
    assert er["learner"]["steps"] == 2 and er["train"]["replay_batch_size"] == 20
    assert er["method"]["alpha"] == 0.001
    gem = compose("gem", "split-cifar10-1000", "paper")
    assert gem["train"]["batch_size"] == 5 and gem["learner"]["memories_per_task"] == 200
    assert "not given by the paper" in compose("sgd", "rotations", "paper")["notes"]


def test_sweeps_change_one_value():
    assert compose("sparse-la-maml-h25", "rotations", "paper")["model"]["hidden"] == [25, 25]
    alpha = compose("sparse-la-maml-a0.3", "permutations", "paper")["method"]
    assert (alpha["alpha"], alpha["init_shift"]) == (0.3, 0.3)
    assert compose("la-maml-10epochs", "rotations", "paper")["train"]["epochs"] == 10
    assert compose("la-maml-10epochs", "rotations", "smoke")["train"]["epochs"] == 2


@pytest.mark.parametrize("profile", ["smoke", "real-offline"])
def test_offline_profiles_read_the_real_offline_pools(profile):
    stream = compose("la-maml", "rotations", profile)["stream"]
    assert (stream["dataset"], stream["train_split"]) == ("mnist-test", "test")
    assert (stream["test_dataset"], stream["test_split"]) == ("mnist-digits", "train")
    split = compose("gem", "split-cifar10-200", profile)["stream"]
    assert split["dataset"] == split["test_dataset"] == "fashion-mnist"
    assert datasets(profile) == ["fashion-mnist", "mnist-digits", "mnist-test"]
    assert datasets("paper") == ["cifar10", "mnist"]


def test_real_offline_keeps_the_paper_budgets():
    for run, bench in every_cell():
        offline = compose(run, bench, "real-offline")
        paper = compose(run, bench, "paper")
        for section in ("method", "learner", "model", "train"):
            assert offline[section] == paper[section]
        for key in ("tasks", "per_task", "test_per_task"):
            assert offline["stream"].get(key) == paper["stream"].get(key)


def without_fewshot(root: Path) -> str:
    """A profile of ``root``'s params: real-offline without its few-shot section."""
    spec = yaml.safe_load((root / "params/profiles/real-offline.yaml").read_text())
    del spec["fewshot"]
    (root / "params/profiles/continual-only.yaml").write_text(yaml.safe_dump(spec))
    return "continual-only"


def test_continual_only_profile_refuses_fewshot_runs_by_name(project):
    name = without_fewshot(project)
    refusal = "covers only the continual, online targets.*profile=paper"
    with pytest.raises(ConfigError, match=refusal):
        family("fewshot").compose("maml/1shot", name)
    assert (
        family("fewshot").compose("maml/1shot", "smoke")["data"]["dataset"] == "omniglot-small-rot"
    )


def test_a_wrong_key_in_continual_params_is_named(project):
    path = project / "params" / "continual" / "runs.yaml"
    path.write_text(
        path.read_text().replace("tasks: 100, per_task: 200", "tasks: 100, per_tsk: 200")
    )
    with pytest.raises(ConfigError, match="many-permutations.*unknown key stream.per_tsk"):
        compose("la-maml", "many-permutations", "paper")
    text = path.read_text().replace("{meta_lr: 0.85, glances: 5}", "{meta_lr: 0.85, glance: 5}")
    path.write_text(text.replace("init: constant,", "init: constnt,"))
    with pytest.raises(ConfigError, match="'sparse-la-maml' on 'rotations'.*method.init"):
        compose("sparse-la-maml", "rotations", "smoke")
    path.write_text(text)
    with pytest.raises(ConfigError, match="unknown key learner.glance;"):
        compose("sparse-la-maml", "rotations", "smoke")
    with pytest.raises(ConfigError, match="unknown continual run 'la-mamI'"):
        compose("la-mamI", "rotations", "paper")
    with pytest.raises(ConfigError, match="unknown benchmark 'rotation'"):
        compose("la-maml", "rotation", "paper")


def test_compose_cli_writes_the_composed_params(tmp_path):
    out = tmp_path / "p.yaml"
    cmd = [sys.executable, "-m", "wheretolearn", "compose", "--family", "continual"]
    cmd += ["--cell", "rotations/la-maml", "--profile", "smoke", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    assert yaml.safe_load(out.read_text()) == compose("la-maml", "rotations", "smoke")
    bad = subprocess.run(
        [*cmd[:6], "--cell", "rot/la-maml", *cmd[8:]], cwd=ROOT, capture_output=True
    )
    assert bad.returncode == 2 and b"unknown benchmark 'rot'" in bad.stderr


# ---- hand-written results -----------------------------------------------------------------


def fake_result(ra: float, bti: float, final: float, sparsity: float, seed: int) -> dict:
    """A result.json: per-tensor final sparsity grows with depth (W: s, s+0.1, s+0.2; b: s+0.3
    ...), a trace of 2 tasks x 3 records whose overall sparsity rises with the step."""
    final_tensors = {
        name: round(sparsity + 0.1 * i, 6) for i, name in enumerate(sorted(MLP, key=_depth))
    }
    trace = [
        {
            "task": step // 30,
            "step": step,
            "examples": 10 * step,
            "epoch": 0,
            "tensors": {name: step / 100 for name in MLP},
            "overall": step / 100,
        }
        for step in (0, 10, 20, 30, 40, 50)
    ]
    return {
        "retained_accuracy": ra,
        "bti": bti,
        "learning_accuracy": ra - bti,
        "final_accuracy": final,
        "accuracy_matrix": [[ra]],
        "sparsity": {"final": final_tensors, "final_overall": sparsity, "trace": trace},
        "parameters": MLP,
        "stream": {},
        "wall_s": 1.0,
        "seed": seed,
    }


def _depth(name: str) -> tuple[bool, str]:
    return (name.endswith("bias"), name)  # W1, W2, W3, b1, b2, b3


def write_results(names: list[str], profile: str = "smoke") -> None:
    """Every cell of the named targets: RA = 60 + 10 * run index + seed, BTI = -5 - seed,
    final accuracy = 20 + 2 * seed, overall sparsity = 0.1 * (run index + 1) + 0.01 * seed."""
    runs = list(dict.fromkeys(run for name in names for run, _ in cells(name)))
    for name in names:
        for run, bench in cells(name):
            i = runs.index(run)
            composed = compose(run, bench, profile)
            path = layout().composed(profile, "continual", cell(run, bench))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(composed))
            for seed in seeds(name, profile):
                result = fake_result(60 + 10 * i + seed, -5 - seed, 20 + 2 * seed,
                                     0.1 * (i + 1) + 0.01 * seed, seed)  # fmt: skip
                out = result_file(profile, run, bench, seed)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(result))


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_layer_labels_and_metric_values():
    assert layer_labels(MLP) == {
        "W1": "layers.0.weight",
        "W2": "layers.1.weight",
        "W3": "layers.2.weight",
        "b1": "layers.0.bias",
        "b2": "layers.1.bias",
        "b3": "layers.2.bias",
    }
    result = fake_result(70.0, -3.0, 25.0, 0.2, 0)
    assert metric_value(result, "retained_accuracy") == 70.0
    assert metric_value(result, "sparsity_W2") == pytest.approx(30.0)  # 0.2 + 0.1
    assert metric_value(result, "sparsity_b1") == pytest.approx(50.0)  # 0.2 + 0.3
    assert metric_value(result, "sparsity_overall") == pytest.approx(20.0)
    with pytest.raises(UserError, match="no tensor W4"):
        metric_value(result, "sparsity_W4")


def test_table5_aggregates_seeds_beside_the_paper(project):
    write_results(["table5"])
    csv_path, md_path, tex_path = write_table("table5", "smoke")
    rows = rows_of(csv_path)
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 3 * 6 * 2
    cell = {(r["method"], r["dataset"], r["metric"]): r for r in rows}
    ra = cell[("sparse-la-maml", "permutations", "retained_accuracy")]
    # run index 5: RA 110 + seed over seeds 0 and 1
    assert float(ra["mean"]) == pytest.approx(110.5)
    assert float(ra["std"]) == pytest.approx(math.sqrt(0.5))
    assert ra["n_seeds"] == "2" and ra["setting"] == "single pass"
    assert (float(ra["paper_mean"]), float(ra["paper_std"])) == (76.88, 0.72)
    bti = cell[("sgd", "many permutations", "bti")]
    assert float(bti["mean"]) == pytest.approx(-5.5)
    assert (float(bti["paper_mean"]), float(bti["paper_std"])) == (-19.06, 0.86)
    er = cell[("er", "rotations", "retained_accuracy")]
    assert er["paper_mean"] == "" and er["mean"] != ""
    md = md_path.read_text()
    assert "sgd *(paper: reported)*" in md and "| la-maml |" in md
    assert "76.88 ± 0.72" in md and "RA (ours)" in md and "smoke test on real offline data" in md
    assert r"\begin{tabular}" in tex_path.read_text()


def test_table_s5_per_layer_sparsity_in_percent(project):
    write_results(["tableS5"])
    rows = rows_of(write_table("tableS5", "smoke")[0])
    cell = {(r["method"], r["dataset"], r["metric"]): r for r in rows}
    w3 = cell[("la-maml", "rotations", "sparsity_W3")]
    # la-maml is run 0: overall 0.1 + 0.01 seed, W3 = that + 0.2 -> 30 and 31 %
    assert float(w3["mean"]) == pytest.approx(30.5)
    assert float(w3["paper_mean"]) == 96.0 and w3["paper_std"] == ""
    overall = cell[("sparse-la-maml", "many permutations", "sparsity_overall")]
    assert float(overall["mean"]) == pytest.approx(20.5)
    assert float(overall["paper_mean"]) == 13.08
    assert len(rows) == 2 * 3 * 7


def test_table_s7_final_accuracy_per_memory_size(project):
    write_results(["tableS7"])
    csv_path, md_path, _ = write_table("tableS7", "smoke")
    rows = rows_of(csv_path)
    assert {(r["setting"], r["dataset"]) for r in rows} == {
        ("memories 200", "split CIFAR-10"),
        ("memories 1000", "split CIFAR-10"),
    }
    gem = next(r for r in rows if r["method"] == "gem" and r["setting"] == "memories 1000")
    assert float(gem["mean"]) == pytest.approx(21.0)  # 20 + 2 seed over seeds 0, 1
    assert float(gem["std"]) == pytest.approx(math.sqrt(2.0))
    assert (float(gem["paper_mean"]), float(gem["paper_std"])) == (31.55, 0.81)
    assert "final acc. (paper)" in md_path.read_text()


def test_continual_metrics_file_keys_every_metric(project):
    write_results(["table5", "tableS5", "tableS7"])
    for name in ("table5", "tableS5", "tableS7"):
        write_table(name, "smoke")
    values = stages.metrics(CONTINUAL, "smoke")
    assert values["table5"]["single pass/mer/rotations/bti"] == pytest.approx(-5.5)
    assert len(values["tableS5"]) == 42 and len(values["tableS7"]) == 10


def test_missing_continual_results_say_what_to_run(project):
    with pytest.raises(UserError, match="run `snakemake`"):
        write_table("tableS7", "smoke")


def test_figure_frames_average_seeds(project):
    from wheretolearn.figures._continual import sweep_frame, task_starts, trace_frame

    write_results(["figure3"])
    trace = trace_frame("smoke", "figure3", "la-maml", "rotations")
    assert set(trace["tensor"]) == {"W1", "W2", "W3", "b1", "b2", "b3"}
    assert len(trace) == 2 * 6 * 6 and task_starts(trace) == [30]
    sweep = sweep_frame("smoke", "figure3", "rotations")
    widths = sorted(set(sweep["hidden units per layer"]))
    assert widths == [25, 50, 100, 200, 400]
    at100 = sweep[sweep["hidden units per layer"] == 100]
    assert at100["RA (%)"].mean() == pytest.approx(70.5)  # sparse-la-maml is run 1


@pytest.mark.parametrize("name", ["figure3", "figure4", "figureS3", "figureS4"])
def test_figures_draw_from_result_files(project, name):
    write_results([name])
    from wheretolearn.figures import FIGURES

    paths = FIGURES.get(name)("smoke")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 5_000 for p in paths)


# ---- the DAG ------------------------------------------------------------------------------


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """The workflow and params in a scratch folder: dry runs there see no results at all."""
    if not (Path(sys.executable).parent / "snakemake").exists():
        pytest.skip("needs snakemake in the environment")
    base = tmp_path_factory.mktemp("workflow")
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, base / name)
    return base


def test_every_continual_target_resolves_in_a_dry_run(workflow_copy):
    result = snakemake(workflow_copy, *TARGETS, "-n", "--config", "profile=smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    runs = {(r, b, s) for n in TARGETS for r, b in cells(n) for s in seeds(n, "smoke")}
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, flags=re.M))
    assert int(counts["train"]) == len(runs)
    assert int(counts["table"]) == 3 and int(counts["figure"]) == 4


def test_fewshot_target_of_a_continual_only_profile_stops_with_the_reason(workflow_copy):
    name = without_fewshot(workflow_copy)
    result = snakemake(workflow_copy, "table4", "-n", "--config", f"profile={name}")
    assert result.returncode != 0
    assert "covers only the continual, online targets" in result.stdout + result.stderr


LOCK = """schema: '2.0'
stages:
  datasets-smoke:
    cmd: snakemake datasets --cores all --config profile=smoke
    outs: [{path: data/omniglot-small}, {path: data/mnist-test}, {path: data/mnist-digits}]
  family@smoke-fewshot:
    cmd: snakemake fewshot_tables --cores all --config profile=smoke
    params:
      params/profiles/smoke.yaml: {seeds: [0, 1], threads: 1, fewshot: {datasets: {}}}
      pyproject.toml: {project.dependencies: [torch==2.13.0]}
"""


def test_pull_skips_stages_never_run(tmp_path, monkeypatch):
    """A repository that built only the few-shot smoke tables has no continual stage in
    dvc.lock: `wheretolearn pull` pulls and touches what is there, and says what it skips.
    The stages are read from dvc.lock: those of the profile, and the datasets stage whose
    folders the profile reads (real-offline reads the smoke profile's data)."""
    lock = tmp_path / "dvc.lock"
    lock.write_text(LOCK)
    stages, families = dvc.cached_stages("smoke", lock)
    assert stages == ["datasets-smoke", "family@smoke-fewshot"]
    assert families == {"family@smoke-fewshot": "fewshot"}
    assert dvc.cached_stages("real-offline", lock) == (["datasets-smoke"], {})
    calls = []
    answers = {("dvc", "remote", "default"): "local", ("dvc", "config"): "true"}

    def run(cmd, **kw):
        calls.append(cmd)
        out = answers.get(tuple(cmd[:3])) or answers.get(tuple(cmd[:2]), "")
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr("subprocess.run", run)
    dvc.pull_cached("smoke", lock)
    assert calls[0] == ["dvc", "remote", "default"]  # verification of the remote comes first
    assert ["dvc", "pull", *stages] in calls
    assert calls[-1][:3] == ["snakemake", "fewshot_tables", "--touch"]
    with pytest.raises(ConfigError, match="nothing to pull"):
        dvc.pull_cached("paper", lock)
