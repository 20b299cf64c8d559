"""Two-phase learning (Table S4): a second run starts from a first run's best theta and, with
theta frozen, learns only the mask; a first phase of another model or seed is refused."""

from __future__ import annotations

import json

import pytest
import torch

from run_synthetic import PARAMS
from synthetic import SyntheticSource
from wheretolearn.checkpoint import load
from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.config import parse
from wheretolearn.experiments.fewshot.run import train
from wheretolearn.params import deep_merge

FIRST = {"method": {"name": "maml", "alpha": 0.1}, "train": {"epochs": 1}}
SECOND = {
    "method": {"alpha": 0.1, "init_shift": 0.0},
    "train": {"epochs": 2, "validate_every": 1, "init_from": "first", "freeze_theta": True},
}


def config(*layers):
    merged = dict(PARAMS)
    for layer in layers:
        merged = deep_merge(merged, layer)
    return parse(merged)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("first")
    first = dict(PARAMS, method=FIRST["method"])  # MAML: no mask options
    train(parse(deep_merge(first, {"train": FIRST["train"]})), out, seed=0,
          source=SyntheticSource())  # fmt: skip
    return out


def test_the_second_phase_keeps_the_first_phases_theta_and_learns_the_mask(first, tmp_path):
    second = tmp_path / "second"
    summary = train(config(SECOND), second, seed=0, source=SyntheticSource(), init_from=first)
    theirs, ours = load(first / "best.pt"), load(second / "best.pt")
    for name, tensor in theirs["model"].items():
        assert torch.equal(ours["model"][name], tensor), name  # theta never moved
    log = [json.loads(line) for line in (second / "metrics.jsonl").read_text().splitlines()]
    assert log[0]["sparsity_per_tensor"] != log[-1]["sparsity_per_tensor"]  # the mask learned
    assert summary["init_from"]["folder"] == str(first)
    assert len(summary["init_from"]["sha256"]) == 64


def test_without_freezing_theta_moves_from_the_first_phases_value(first, tmp_path):
    unfrozen = deep_merge(SECOND, {"train": {"freeze_theta": False}})
    train(config(unfrozen), tmp_path, seed=0, source=SyntheticSource(), init_from=first)
    theirs, ours = load(first / "best.pt")["model"], load(tmp_path / "best.pt")["model"]
    assert any(not torch.equal(ours[n], t) for n, t in theirs.items())


@pytest.mark.parametrize(
    ("layer", "seed", "message"),
    [
        ({"model": {"hidden": 8}}, 0, "its model is"),
        ({}, 1, "its seed is 0, this run's is 1"),
        ({"data": {"shots": 1}}, 0, "its data.shots is 2"),
    ],
)
def test_a_first_phase_of_another_model_task_or_seed_is_refused(first, tmp_path, layer, seed,
                                                                message):  # fmt: skip
    out = tmp_path / "second"
    with pytest.raises(UserError, match=message):
        train(config(SECOND, layer), out, seed=seed, source=SyntheticSource(), init_from=first)
    assert not out.exists()  # refused before anything was written


def test_init_from_without_a_folder_and_a_folder_without_init_from_are_refused(first, tmp_path):
    with pytest.raises(UserError, match="needs --init-from"):
        train(config(SECOND), tmp_path / "a", seed=0, source=SyntheticSource())
    plain = deep_merge(SECOND, {"train": {"init_from": None}})
    with pytest.raises(UserError, match="the params set no train.init_from"):
        train(config(plain), tmp_path / "b", seed=0, source=SyntheticSource(), init_from=first)
