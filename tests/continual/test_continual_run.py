"""A continual run folder: results, resume after an interruption, divergence, bad params."""

from __future__ import annotations

import json

import pytest
import torch
from fake_stream import FakeStream

from wheretolearn.errors import ConfigError, DivergenceError
from wheretolearn.experiments.continual import run as continual
from wheretolearn.experiments.continual.config import parse as parse_continual_config

PARAMS = {  # every key a paper sets is required
    "method": {
        "name": "sparse-maml",
        "alpha": 0.15,
        "init": "constant",
        "init_shift": 0.05,
        "ste_scale": 1.0,
    },
    "learner": {"name": "lookahead", "meta_lr": 1.7, "glances": 2},
    "stream": {"benchmark": "rotations", "dataset": "mnist", "tasks": 3, "per_task": 30},
    "model": {"name": "mlp", "hidden": [16, 16]},
    "train": {
        "batch_size": 10,
        "epochs": 2,
        "memories": 20,
        "replay_batch_size": 10,
        "clip_norm": 2.0,
        "log_every": 3,
    },
}


def test_result_file_and_resume_after_interruption(tmp_path, monkeypatch):
    config = parse_continual_config(PARAMS)
    full = continual.run(config, tmp_path / "full", seed=3, stream=FakeStream(tasks=3))
    assert len(full["accuracy_matrix"]) == 3 and full["accuracy_matrix"][0][1] is None
    assert set(full["sparsity"]["final"]) == {
        f"layers.{i}.{k}" for i in range(3) for k in ("weight", "bias")
    }
    assert json.loads((tmp_path / "full" / "summary.json").read_text())["bti"] == full["bti"]
    assert len((tmp_path / "full" / "metrics.jsonl").read_text().splitlines()) == 3

    save = continual._save

    def killed_after_task_two(learner, generator, progress, out, wall):
        save(learner, generator, progress, out, wall)
        if progress["next_task"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(continual, "_save", killed_after_task_two)
    with pytest.raises(KeyboardInterrupt):
        continual.run(config, tmp_path / "cut", seed=3, stream=FakeStream(tasks=3))
    monkeypatch.setattr(continual, "_save", save)
    resumed = continual.run(config, tmp_path / "cut", seed=3, stream=FakeStream(tasks=3))
    assert resumed["accuracy_matrix"] == full["accuracy_matrix"]
    assert resumed["sparsity"]["trace"] == full["sparsity"]["trace"]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["learner"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["learner"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    config = parse_continual_config(PARAMS)
    one = continual.run(config, tmp_path / "a", seed=1, stream=FakeStream())
    two = continual.run(config, tmp_path / "b", seed=1, stream=FakeStream())
    three = continual.run(config, tmp_path / "c", seed=2, stream=FakeStream())
    assert one["accuracy_matrix"] == two["accuracy_matrix"]
    assert one["sparsity"]["trace"] != three["sparsity"]["trace"]


def test_divergence_names_where(tmp_path):
    params = {**PARAMS, "method": {"name": "la-maml", "alpha": 1e30}}
    with pytest.raises(DivergenceError, match="task 0"):
        continual.run(parse_continual_config(params), tmp_path / "x", seed=0, stream=FakeStream())


def test_bad_params_are_named():
    with pytest.raises(ConfigError, match="train.memoriez"):
        parse_continual_config({**PARAMS, "train": {"memoriez": 3}})
    with pytest.raises(ConfigError, match="method.alpah"):
        parse_continual_config({**PARAMS, "method": {"name": "la-maml", "alpah": 0.1}})


def test_a_folder_of_other_parameters_is_refused(tmp_path):
    from wheretolearn.errors import UserError

    first = continual.run(
        parse_continual_config(PARAMS), tmp_path / "r", seed=0, stream=FakeStream(tasks=1)
    )
    # notes document a run; editing them does not make it another run
    noted = continual.run(
        parse_continual_config({**PARAMS, "notes": "edited"}),
        tmp_path / "r",
        seed=0,
        stream=FakeStream(tasks=1),
    )
    assert noted["accuracy_matrix"] == first["accuracy_matrix"]
    other = {**PARAMS, "learner": {"name": "lookahead", "meta_lr": 0.5, "glances": 2}}
    with pytest.raises(UserError, match="other parameters"):
        continual.run(
            parse_continual_config(other), tmp_path / "r", seed=0, stream=FakeStream(tasks=1)
        )
