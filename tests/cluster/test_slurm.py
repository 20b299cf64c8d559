"""The SLURM profile end to end on a one-node cluster of this machine (``nox -s cluster``).

The README's cluster block is run word for word: it starts the cluster
(``workflow/cluster/local-slurm.sh``), builds the smoke ``gems_table3`` (GEMS' MMSUP at two
fixed kept fractions: data preparation, composition, 2 trainings, 4 evaluations, the table)
through ``--workflow-profile workflow/profiles/slurm`` (every job submitted with ``sbatch``,
the trainings and evaluations with ``--gpus=1`` on the fake GPUs) and stops the cluster. The
table must equal a local build's. A training cancelled with ``scancel`` after its first epoch
(Table S3's sparse-MAML with non-transductive BatchNorm: its epochs last seconds, long enough
to cut it between checkpoints) is resubmitted by Snakemake (the profile's ``restart-times``),
resumes from its ``last.pt`` and ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch

from wheretolearn.checkpoint import load

ROOT = Path(__file__).resolve().parents[2]
TARGET = "gems_table3"
TABLE = Path("results/smoke/fewshot/tables/gems_table3.csv")
CELL = Path("results/smoke/fewshot/runs/sparse-maml-nt/5shot/seed1")


def readme_block() -> list[str]:
    """The commands between the README's cluster-test markers (continued lines joined)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- cluster-test -->\s*```sh\n(.*?)```\s*<!-- /cluster-test -->", text,
                      flags=re.S)  # fmt: skip
    assert block, "README.md has no cluster-test block"
    joined = block.group(1).replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def sh(cwd: Path, command: str, **kw) -> str:
    env = {**os.environ, "WHERETOLEARN_DATA": str(cwd / "data")}
    result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                            env=env, **kw)  # fmt: skip
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def clone(dest: Path) -> Path:
    sh(dest.parent, f"git clone -q {ROOT} {dest.name}")
    return dest


@pytest.fixture(scope="module")
def commands():
    """The README's block: start the cluster, build the target through it, stop the cluster."""
    start, build, stop = readme_block()
    assert start.endswith("local-slurm.sh start") and stop.endswith("local-slurm.sh stop")
    assert build.startswith(f"snakemake {TARGET} ") and "workflow/profiles/slurm" in build
    return start, build, stop


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A clone with the target and the preempted cell built locally (the references)."""
    tree = clone(tmp_path_factory.mktemp("local") / "tree")
    sh(tree, f"snakemake {TARGET} {CELL / 'summary.json'} --cores 2 --config profile=smoke")
    return tree


@pytest.fixture(scope="module")
def cluster(commands):
    """The running cluster (the README's start line), stopped after the module."""
    if os.geteuid() != 0:
        pytest.fail("the cluster tests start SLURM daemons: run them as root")
    start, _, stop = commands
    sh(ROOT, start)
    try:
        yield
    finally:
        sh(ROOT, stop)


def jobs_in_dag(cwd: Path) -> int:
    dry = sh(cwd, f"snakemake {TARGET} -n --forceall --config profile=smoke")
    return int(re.search(r"^total\s+(\d+)$", dry, flags=re.M).group(1))


def test_every_job_went_through_sbatch_and_the_table_equals_the_local_one(
    commands, cluster, local, tmp_path
):
    remote = clone(tmp_path / "slurm")
    began = time.monotonic()
    out = sh(remote, commands[1])
    print(f"{TARGET} through SLURM: {time.monotonic() - began:.0f} s")
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: [^)]*/rule_(\w+)/", out)
    ids = [job for job, _ in submitted]
    # every job but the target rule itself (a rule without a command runs in Snakemake)
    assert len(set(ids)) == len(ids) == jobs_in_dag(remote) - 1, out[-3000:]
    assert (remote / TABLE).read_text() == (local / TABLE).read_text()
    # what each job asked SLURM for (finished jobs stay known for MinJobAge): a GPU and, with
    # nothing measured yet in this clone, the unmeasured runtimes for trainings and
    # evaluations; the README's default resources for the rest
    asked = {job: (rule, slurm_job(job)) for job, rule in submitted}
    assert {rule for rule, _ in asked.values()} >= {"train", "evaluate", "compose"}
    for rule, fields in asked.values():
        gpu = rule in ("train", "evaluate")
        assert (fields.get("TresPerJob") == "gres:gpu:1") == gpu, (rule, fields)
        assert fields["Partition"] == ("gpu" if gpu else "cpu"), (rule, fields)
        limit = {"train": "1-00:00:00", "evaluate": "02:00:00"}.get(rule, "00:30:00")
        assert fields["TimeLimit"] == limit, (rule, fields)


def slurm_job(job: str) -> dict[str, str]:
    """``scontrol show job``'s fields of a job that SLURM still knows."""
    shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    return dict(field.split("=", 1) for field in shown.split() if "=" in field)


def test_a_cancelled_training_resumes_from_last_pt_with_the_same_weights(
    commands, cluster, local, tmp_path
):
    build = commands[1]
    preempt = clone(tmp_path / "preempt")
    command = build.replace(f"snakemake {TARGET}", f"snakemake {CELL / 'summary.json'}")
    env = {**os.environ, "WHERETOLEARN_DATA": str(preempt / "data")}
    log = (tmp_path / "snakemake.log").open("w")
    job = subprocess.Popen(["bash", "-c", command], cwd=preempt, env=env, stdout=log,
                           stderr=subprocess.STDOUT)  # fmt: skip
    last, summary = preempt / CELL / "last.pt", preempt / CELL / "summary.json"
    deadline = time.monotonic() + 600
    while not last.exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert last.exists() and not summary.exists(), "the training ended before it could be cut"
    assert load(last)["epoch"] == 1
    running = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
    assert len(running) == 1, running
    subprocess.run(["scancel", running[0]], check=True)
    assert job.wait(timeout=900) == 0, (tmp_path / "snakemake.log").read_text()[-3000:]
    text = (tmp_path / "snakemake.log").read_text()
    trainings = re.findall(r"submitted with SLURM jobid (\d+) \(log: [^)]*/rule_train/", text)
    assert len(set(trainings)) == 2 and running[0] == trainings[0], text[-3000:]
    assert "Trying to restart job" in text
    # the second attempt asks for twice the first's time (wheretolearn/runtimes.py)
    assert [slurm_job(t)["TimeLimit"] for t in trainings] == ["1-00:00:00", "2-00:00:00"]
    resumed, whole = load(preempt / CELL / "last.pt"), load(local / CELL / "last.pt")
    assert resumed["epoch"] == whole["epoch"] == 2
    for key in ("model", "rule"):  # theta and the mask logits
        assert resumed[key].keys() == whole[key].keys()
        for name, tensor in whole[key].items():
            assert torch.equal(resumed[key][name], tensor), (key, name)
