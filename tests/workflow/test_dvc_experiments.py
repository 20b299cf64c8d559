"""DVC experiments over the declared params: ``dvc exp run -S`` sets a hyperparameter, re-runs
its stage, and ``dvc exp show`` lists it beside the other stages' params.

The experiment runs ``datasets-smoke``, the cheapest stage with params: it prepares the smoke
profile's four small real datasets from the offline mirror (no training), and its params are
the profile's dataset stand-ins, which decide what it prepares. ``-S`` on a family stage works
the same way but retrains the family. Runs the committed state of the repository, in a clone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILE = "params/profiles/smoke.yaml"
KEY = "fewshot.datasets.cars"  # Cars' stand-in: Fashion-MNIST -> MNIST test digits
GIT_ID = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}


def sh(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, **GIT_ID, "WHERETOLEARN_DATA": str(cwd / "data")}
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def params_of(row: dict, file: str) -> dict:
    return row["data"]["params"][file]["data"]


def experiment(rows: list[dict], name: str) -> dict:
    found = [
        exp["revs"][0]
        for row in rows
        for exp in row.get("experiments") or []
        if exp.get("name") == name
    ]
    assert len(found) == 1, [row.get("experiments") for row in rows]
    return found[0]


@pytest.mark.slow
def test_exp_run_sets_a_param_and_exp_show_reads_it_back(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git repository")
    if not os.environ.get("WHERETOLEARN_MIRROR"):
        pytest.skip("needs the offline data mirror (WHERETOLEARN_MIRROR)")
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(ROOT), clone.name)
    before = yaml.safe_load((clone / PROFILE).read_text())["fewshot"]["datasets"]["cars"]
    assert before == "fashion-mnist"
    start = time.monotonic()
    sh(clone, "dvc", "exp", "run", "datasets-smoke", "-n", "cars-as-mnist",
       "-S", f"{PROFILE}:{KEY}=mnist-test")  # fmt: skip
    print(f"dvc exp run datasets-smoke: {time.monotonic() - start:.0f} s")
    assert (clone / "data/mnist-test/MANIFEST.json").exists()
    # the file the experiment changed still loads, anchors and all, with only that key changed
    after = yaml.safe_load((clone / PROFILE).read_text())
    assert after["fewshot"]["datasets"]["cars"] == "mnist-test"
    assert after["fewshot"]["runs"]["maml-b5"] == after["fewshot"]["runs"]["maml-b1"]

    rows = json.loads(sh(clone, "dvc", "exp", "show", "--json"))
    exp = experiment(rows, "cars-as-mnist")
    assert params_of(exp, PROFILE)["fewshot"]["datasets"]["cars"] == "mnist-test"
    baseline = next(r for r in rows if r["rev"] != "workspace")
    assert params_of(baseline, PROFILE)["fewshot"]["datasets"]["cars"] == "fashion-mnist"
    # every stage's params are listed: the families' profile sections and runs, the pins
    assert params_of(baseline, PROFILE)["seeds"] == [0, 1]
    assert "base" in params_of(baseline, "params/fewshot/runs.yaml")
    assert "benchmarks" in params_of(baseline, "params/continual/runs.yaml")
    pins = params_of(baseline, "pyproject.toml")["project"]["dependencies"]
    assert any(p.startswith("torch==") for p in pins)
    lock = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]["datasets-smoke"]
    assert lock["params"][PROFILE][KEY.rsplit(".", 1)[0]]["cars"] == "mnist-test"


def stub(stage: dict) -> dict:
    """A stage with the same params and a command that does nothing."""
    return {"cmd": "true", "params": stage.get("params", [])}


def test_every_stage_params_go_into_the_lock(tmp_path):
    """DVC writes each stage's declared params, sorted, into ``dvc.lock`` after the stage ran:
    a params file it cannot sort (a mapping with integer and string keys) fails only then,
    after the stage's whole work. Every stage of ``dvc.yaml`` is run here with its params and
    a command that does nothing, in a scratch repository holding the params files."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        stages[name] = {**stage, "do": stub(stage["do"])} if "foreach" in stage else stub(stage)
    repo = tmp_path / "repo"
    sh(tmp_path, "git", "init", "-q", repo.name)
    subprocess.run(["cp", "-r", str(ROOT / "params"), str(ROOT / "pyproject.toml"), "."],
                   cwd=repo, check=True)  # fmt: skip
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "repro", "--force")
    locked = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert set(locked) >= {"datasets-smoke", "family@smoke-fewshot", "family@paper-online"}
    runs = locked["family@smoke-fewshot"]["params"]["params/fewshot/runs.yaml"]
    assert runs["runs"]["sparse-maml"]["1shot"]["eval"]["targets"]["cub"] == 35


def test_the_smoke_datasets_stage_prepares_what_it_versions(tmp_path):
    """``snakemake datasets`` (the datasets-smoke stage's command) prepares exactly the
    folders the stage versions: all offline (a run a profile leaves out of a table, such as
    GEMS' Aircraft mixture, brings no dataset in)."""
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    out = sh(tmp_path, "snakemake", "datasets", "-n", "--config", "profile=smoke")
    prepared = set(re.findall(r"wildcards: dataset=([\w-]+)", out))
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["datasets-smoke"]
    versioned = {next(iter(o)).removeprefix("data/") for o in stage["outs"]}
    assert prepared == versioned
