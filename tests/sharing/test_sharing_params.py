"""Gradient sharing's and MAML++'s params: runs keep their identity when loop options are
added, refusals name the key, the targets' DAG and the real-offline profile's target subset."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wheretolearn.errors import ConfigError
from wheretolearn.experiments import family
from wheretolearn.experiments.fewshot.config import parse

ROOT = Path(__file__).resolve().parents[2]
FEWSHOT = family("fewshot")


def composed(run, shots=1, profile="smoke"):
    return FEWSHOT.compose(f"{run}/{shots}shot", profile)


def test_options_added_later_are_recorded_only_when_set():
    plain = parse(composed("maml")).to_dict()
    assert not {"multi_step_loss", "cosine_lr", "first_order_epochs"} & set(plain["train"])
    pp = parse(composed("maml-pp-b1")).to_dict()["train"]
    assert pp["multi_step_loss"] is True and pp["first_order_epochs"] == 2  # smoke: 2
    assert pp["cosine_lr"] is True and pp["min_lr"] == pytest.approx(1e-5)


def test_sharing_records_its_base_rule_in_full():
    method = parse(composed("gs-meta-sgd-b5")).method
    assert method["base"] == {"name": "meta-sgd", "init": "constant", "alpha": 0.1,
                              "low": None, "high": None}  # fmt: skip
    assert method["normalise"] == "each" and method["detach_mean"] is False
    assert parse(composed("gs-maml-b1-lr10")).method["base"]["alpha"] == 1.0


def test_per_step_values_must_cover_every_inner_loop():
    data = composed("gs-maml-b1")
    data["eval"]["inner_steps"] = 7
    with pytest.raises(ConfigError, match="method.steps: 5 per-step values but eval.inner_steps"):
        parse(data)


def test_derivative_order_annealing_needs_second_order():
    data = composed("maml-pp-b1")
    data["train"]["first_order"] = True
    with pytest.raises(ConfigError, match="train.first_order_epochs: .* set it false"):
        parse(data)


def dry(*args):
    return subprocess.run(
        ["snakemake", *args, "-n", "--forceall"], cwd=ROOT, capture_output=True, text=True
    )


def test_a_speedup_target_builds_its_curves_and_reads_training_logs_only():
    out = dry("gs_speedup", "--config", "profile=smoke")
    assert out.returncode == 0, out.stderr
    assert "gs_speedup_curves.png" in out.stdout
    assert "rule evaluate" not in out.stdout  # the speed-up needs no test evaluation
    cited = FEWSHOT.cited("gs_speedup", "smoke")
    assert cited and all(p.name == "metrics.jsonl" for p in cited)


def test_real_offline_builds_only_the_speedup_and_gems_table1_of_the_fewshot_family():
    targets = ["gs_speedup", "gs_speedup_curves", "gems_table1"]
    assert FEWSHOT.profile_targets("real-offline") == targets
    out = dry("table1", "--config", "profile=real-offline")
    assert out.returncode != 0
    assert "table1: not a target of profile 'real-offline'" in out.stdout + out.stderr
