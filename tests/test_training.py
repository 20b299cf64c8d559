"""The training runner: learning, model selection, logging, resume after kill, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from run_synthetic import PARAMS
from synthetic import SyntheticSource
from wheretolearn.checkpoint import load, save_atomic
from wheretolearn.errors import ConfigError, DivergenceError, UserError
from wheretolearn.experiments.fewshot.config import parse as parse_config
from wheretolearn.experiments.fewshot.run import train

HERE = Path(__file__).parent


def config(**sections):
    from wheretolearn.params import deep_merge

    return parse_config(deep_merge(PARAMS, sections))


def test_training_learns_selects_best_and_logs_sparsity(tmp_path):
    cfg = config(train={"epochs": 4, "validate_every": 1}, method={"alpha": 0.2})
    summary = train(cfg, tmp_path, seed=0, source=SyntheticSource())
    history = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [0, 1, 2, 3, 4]  # 0: the initial sparsity
    best = max(history[1:], key=lambda r: r["val_accuracy"])
    assert summary["best_epoch"] == best["epoch"]
    assert load(tmp_path / "best.pt")["val_accuracy"] == best["val_accuracy"]
    assert best["val_accuracy"] > 0.6  # three ways: chance is 1/3
    per = history[-1]["sparsity_per_tensor"]
    assert set(per) == {n for n, _ in _model_names(cfg)}
    assert history[0]["sparsity_per_tensor"] != history[-1]["sparsity_per_tensor"]


def _model_names(cfg):
    from wheretolearn.experiments.fewshot.setup import build_setup

    return build_setup(cfg, SyntheticSource().info, 0).model.named_parameters()


def _run(out, seed=3, epochs=8):
    cmd = [sys.executable, str(HERE / "run_synthetic.py"), str(out), str(seed), str(epochs)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_after_epoch(out: Path, epoch: int) -> None:
    proc = _run(out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        metrics = out / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= epoch:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (out / "summary.json").exists()


def test_resume_after_kill_gives_identical_weights(tmp_path):
    reference = _run(tmp_path / "ref")
    assert reference.wait() == 0, reference.stderr.read().decode()
    killed = tmp_path / "killed"
    _kill_after_epoch(killed, 1)
    _kill_after_epoch(killed, 3)  # resumes from epoch 1, killed again mid-run
    resumed = _run(killed)
    assert resumed.wait() == 0, resumed.stderr.read().decode()
    a, b = load(tmp_path / "ref" / "last.pt"), load(killed / "last.pt")
    for part in ("model", "rule"):
        assert a[part].keys() == b[part].keys()
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), f"{part}.{name}"
    assert a["history"] == b["history"]


def test_nan_loss_stops_with_method_and_step(tmp_path):
    cfg = config(method={"alpha": 1e30}, train={"epochs": 1})
    match = r"sparse-maml: non-finite outer loss .* epoch 1 batch 1 task 1;"  # 1-based, as the log
    with pytest.raises(DivergenceError, match=match):
        train(cfg, tmp_path, seed=0, source=SyntheticSource())


def test_resuming_with_other_params_is_refused_or_moved_aside(tmp_path):
    out = tmp_path / "run"
    train(config(train={"epochs": 1}), out, seed=0, source=SyntheticSource())
    first = load(out / "best.pt")
    # the loading processes are not a parameter of the run: the same run, resumed
    train(
        config(train={"epochs": 1}, data={"num_workers": 2}), out, seed=0, source=SyntheticSource()
    )
    with pytest.raises(UserError, match="other parameters"):
        train(config(train={"epochs": 2}), out, seed=1, source=SyntheticSource())
    train(config(train={"epochs": 2}), out, seed=1, source=SyntheticSource(), replace_stale=True)
    kept = load(tmp_path / "run.stale-1" / "best.pt")  # nothing lost
    assert all(torch.equal(first["model"][k], kept["model"][k]) for k in first["model"])
    assert load(out / "last.pt")["epoch"] == 2


def test_checkpoints_never_execute_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(UserError, match="cannot be read safely"):
        load(path)
    save_atomic({"x": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load(tmp_path / "ok.pt")["x"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pt", "ok.pt"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"train": {"epochz": 3}}, "unknown key train.epochz"),
        ({"train": {"epochs": "many"}}, "train.epochs: expected int"),
        ({"train": {"epochs": 2.5}}, "train.epochs: expected int"),
        ({"model": {"batchnorm": "running"}}, "model.batchnorm"),
        ({"method": {"alfa": 0.1}}, "unknown key method.alfa"),
        ({"method": {"name": "reptile"}}, "method.name: unknown method 'reptile'"),
        ({"train": {"theta_optimizer": {"lr": "fast"}}}, "train.theta_optimizer.lr"),
        # values out of range, refused by name before anything runs
        ({"train": {"theta_optimizer": {"lr": -0.001}}}, "train.theta_optimizer.lr: must be > 0"),
        ({"train": {"meta_optimizer": {"lr": 0}}}, "train.meta_optimizer.lr: must be > 0"),
        ({"method": {"alpha": -0.1}}, "method.alpha: must be > 0, got -0.1"),
        ({"train": {"batches_per_epoch": 0}}, "train.batches_per_epoch: must be >= 1"),
        ({"train": {"val_tasks": 0}}, "train.val_tasks: must be >= 1"),
        ({"train": {"device": "gpu0"}}, "train.device: 'gpu0' is not one of auto, cpu, cuda"),
        ({"data": {"ways": 30}}, "data.ways: 30 is more than the 22 classes of omniglot-small"),
        ({"data": {"dataset": "omniglott"}}, "data.dataset: unknown dataset 'omniglott'"),
        ({"eval": {"targets": {"cub": 0}}}, "eval.targets.cub: must be >= 1"),
    ],
)
def test_bad_params_name_the_key(patch, message):
    with pytest.raises(ConfigError, match=message):
        config(**patch)


@pytest.mark.parametrize(
    "section, key", [("method", "alpha"), ("train", "epochs"), ("train", "inner_steps"),
                     ("model", "hidden"), ("eval", "tasks")]
)  # fmt: skip
def test_a_value_the_paper_sets_has_no_default(section, key):
    """An omitted paper hyperparameter stops the run with its name (it never silently becomes
    a code default: no alpha was 0.1, no train.epochs was 400)."""
    from wheretolearn.params import deep_merge

    params = deep_merge(PARAMS, {})
    del params[section][key]
    with pytest.raises(ConfigError, match=f"missing key {section}.{key}"):
        parse_config(params)
