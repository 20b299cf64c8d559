"""Interrupted and damaged pipelines recover through Snakemake itself, with the README's
commands unchanged: a killed build, a forced rerun of a training, deleted results, two builds
on one tree, bad values and a read-only data root.

Each test works in a scratch copy of the workflow (Snakefile, rules, params, profiles) with
one dataset prepared from the offline mirror; the smoke profile there is shortened to 3 epochs
of 4 meta-batches, validated every epoch, so that a kill can land after a best validation.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from wheretolearn.checkpoint import load
from wheretolearn.files import hold_lock

ROOT = Path(__file__).resolve().parents[2]
RUN = "results/smoke/fewshot/runs/maml/1shot/seed0"
EVAL = f"{RUN}/eval-tieredimagenet.json"  # one training and one evaluation


def snakemake_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "snakemake"), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(*args), cwd=cwd, capture_output=True, text=True, env=env())


@pytest.fixture(scope="module")
def data(prepared_data):
    return prepared_data("omniglot-small")


@pytest.fixture
def tree(tmp_path, data):
    """A scratch copy of the workflow reading the prepared data; a short smoke training."""
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    profile = tmp_path / "params" / "profiles" / "smoke.yaml"
    spec = yaml.safe_load(profile.read_text())
    spec["fewshot"]["override"]["train"].update(epochs=3, batches_per_epoch=4, validate_every=1)
    profile.write_text(yaml.safe_dump(spec, sort_keys=False))
    (tmp_path / "workflow" / "config.yaml").write_text(f"profile: smoke\ndata_root: {data}\n")
    return tmp_path


def build(cwd: Path, target: str = EVAL) -> str:
    """The README's command for a target (here one evaluation, not the whole table)."""
    result = snakemake(cwd, target, "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def same_run(a: Path, b: Path) -> None:
    for name in ("best.pt", "last.pt"):
        x, y = load(a / RUN / name), load(b / RUN / name)
        assert x["model"].keys() == y["model"].keys()
        assert all(torch.equal(x["model"][k], y["model"][k]) for k in x["model"]), name
    for name in ("metrics.jsonl", "summary.json"):
        assert (a / RUN / name).read_text() == (b / RUN / name).read_text(), name
    assert (
        json.loads((a / EVAL).read_text())["accuracy"]
        == json.loads((b / EVAL).read_text())["accuracy"]
    )


def test_the_default_profile_is_loaded(tree):
    result = snakemake(tree, EVAL, "-n")
    assert result.returncode == 0, result.stderr
    assert "Using workflow specific profile profiles/default" in result.stdout + result.stderr


@pytest.mark.slow
def test_a_killed_build_finishes_when_rerun_bit_identical(tree, tmp_path_factory):
    """SIGKILL to the whole Snakemake process tree after the run's first validations, then the
    same command again: no --unlock, no --rerun-incomplete, the same numbers as a build that
    was never interrupted (the resumed training re-creates the best.pt Snakemake deleted)."""
    reference = tmp_path_factory.mktemp("reference")
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = tree / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, reference / name)
    build(reference)

    proc = subprocess.Popen(
        snakemake_cmd(EVAL, "--cores", "1"),
        cwd=tree,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    metrics, deadline = tree / RUN / "metrics.jsonl", time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:  # epochs 0, 1, 2
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the build ended before it could be killed"
    assert not (tree / RUN / "summary.json").exists()
    build(tree)
    assert (
        "resuming" in (tree / "results/smoke/logs/fewshot/train/maml/1shot-seed0.log").read_text()
    )
    same_run(tree, reference)


@pytest.mark.slow
def test_a_forced_rerun_of_a_finished_training_re_creates_its_outputs(tree):
    """``snakemake -f <summary.json>``: Snakemake deletes the run's outputs (summary.json and
    metrics.jsonl), and the training, finished already, must write them again from its last.pt,
    best.pt included (deleted here too, as a user deleting a corrupt one would)."""
    build(tree)
    before = {n: (tree / RUN / n).read_bytes() for n in ("summary.json", "metrics.jsonl")}
    best = load(tree / RUN / "best.pt")
    (tree / RUN / "best.pt").unlink()
    result = snakemake(tree, f"{RUN}/summary.json", "-f", "--cores", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    again = load(tree / RUN / "best.pt")
    assert all(torch.equal(best["model"][k], again["model"][k]) for k in best["model"])
    assert {n: (tree / RUN / n).read_bytes() for n in before} == before


def fake_build(cwd: Path, target: str) -> None:
    """Every output of ``target``'s DAG as an empty file, then ``--touch``: a built tree as far
    as Snakemake can tell, in seconds (data in the tree's own data root)."""
    dry = snakemake(cwd, target, "-n", "--config", "data_root=data")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for line in dry.stdout.splitlines():
        if line.strip().startswith("output:"):
            for name in line.split(":", 1)[1].split(","):
                (cwd / name.strip()).parent.mkdir(parents=True, exist_ok=True)
                (cwd / name.strip()).touch()
    touched = snakemake(cwd, target, "--touch", "--cores", "1", "--config", "data_root=data")
    assert touched.returncode == 0, touched.stdout + touched.stderr


def job_counts(output: str) -> dict[str, int]:
    rows = (line.split() for line in output.splitlines())
    return {r[0]: int(r[1]) for r in rows if len(r) == 2 and r[1].isdigit()}


def test_a_deleted_result_is_rebuilt_by_the_table_target(tree):
    """A table's target depends on what the table cites: with one evaluation and one run
    folder deleted, ``snakemake table4`` schedules them again (not "Nothing to be done")."""
    fake_build(tree, "table4")
    dry = snakemake(tree, "table4", "-n", "--config", "data_root=data")
    assert "Nothing to be done" in dry.stdout, dry.stdout
    (tree / EVAL).unlink()
    shutil.rmtree(tree / "results/smoke/fewshot/runs/boil/5shot/seed1")
    counts = job_counts(snakemake(tree, "table4", "-n", "--config", "data_root=data").stdout)
    assert counts["evaluate"] == 1 + 3 and counts["train"] == 1 and counts["table"] == 1, counts


def test_two_builds_on_one_tree_the_second_is_refused(tree):
    fd = hold_lock(tree / ".snakemake" / "wheretolearn" / "smoke.lock", "test")
    try:
        result = snakemake(tree, EVAL, "--cores", "1")
    finally:
        os.close(fd)
    assert result.returncode != 0
    assert f"in use by another process (pid {os.getpid()})" in result.stdout + result.stderr
    assert not (tree / RUN).exists()  # refused before any job ran


@pytest.mark.parametrize(
    "edit, message",
    [
        (("theta_optimizer: {name: adam, lr: 0.001}", "theta_optimizer: {name: adam, lr: -0.001}"),
         "train.theta_optimizer.lr: must be > 0, got -0.001"),
        (("method: {name: maml, alpha: 0.01}", "method: {name: maml, alpha: -0.01}"),
         "method.alpha: must be > 0, got -0.01"),
        (("ways: 5", "ways: 50"), "data.ways: 50 is more than the"),
    ],
)  # fmt: skip
def test_a_bad_value_stops_the_dry_run_naming_the_key(tree, edit, message):
    params = tree / "params" / "fewshot" / "runs.yaml"
    assert edit[0] in params.read_text()
    params.write_text(params.read_text().replace(edit[0], edit[1]))
    for _ in range(2):  # the second time too: a bad value is never remembered as validated
        result = snakemake(tree, "table4", "-n")
        assert result.returncode != 0 and message in result.stdout + result.stderr


def test_a_read_only_data_root_stops_the_dry_run(tree):
    unwritable = "/proc/wheretolearn-data"  # not writable, even for root
    result = snakemake(tree, "table4", "-n", "--config", f"data_root={unwritable}")
    assert result.returncode != 0
    assert f"data root {unwritable} is not writable" in result.stdout + result.stderr
