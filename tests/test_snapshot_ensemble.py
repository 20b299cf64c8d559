"""Table S1's snapshot ensemble: the ``train.keep_best`` best validated states are kept (best
first, through a resume), and the ensemble predicts the class of highest mean probability."""

from __future__ import annotations

import json

import pytest
import torch

from run_synthetic import PARAMS
from synthetic import SyntheticSource
from wheretolearn.algorithms.episodic import ensemble_accuracies, ensemble_prediction
from wheretolearn.checkpoint import load
from wheretolearn.errors import ConfigError
from wheretolearn.experiments.fewshot.config import parse
from wheretolearn.experiments.fewshot.run import train
from wheretolearn.experiments.fewshot.setup import build_setup
from wheretolearn.params import deep_merge

KEEP = {"train": {"epochs": 5, "validate_every": 1, "keep_best": 3}, "method": {"alpha": 0.2}}


def config(*layers):
    merged = dict(PARAMS)
    for layer in layers:
        merged = deep_merge(merged, layer)
    return parse(merged)


def test_the_mean_probability_decides_not_the_vote_nor_the_mean_logit():
    # one confident member against two mild ones: the vote says 1, the probabilities 0
    confident = [
        torch.tensor([[10.0, 0.0]]),
        torch.tensor([[0.0, 1.0]]),
        torch.tensor([[0.0, 1.0]]),
    ]
    assert ensemble_prediction(confident).tolist() == [0]  # (1 + 2 * 0.269) / 3 = 0.51 > 0.5
    # mean logits [1, 0.8] say 0; the mean probability of 0 is (0.953 + 2 * 0.231) / 3 = 0.47
    mild = [torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 1.2]]), torch.tensor([[0.0, 1.2]])]
    assert ensemble_prediction(mild).tolist() == [1]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    out = tmp_path_factory.mktemp("kept")
    train(config(KEEP), out, seed=0, source=SyntheticSource())
    return out


def test_the_best_validated_states_are_kept_best_first(kept):
    history = [json.loads(line) for line in (kept / "metrics.jsonl").read_text().splitlines()]
    ranked = sorted(history[1:], key=lambda r: (-r["val_accuracy"], r["epoch"]))
    members = load(kept / "ensemble.pt")["members"]
    assert [m["epoch"] for m in members] == [r["epoch"] for r in ranked[:3]]
    assert [m["val_accuracy"] for m in members] == [r["val_accuracy"] for r in ranked[:3]]
    best = load(kept / "best.pt")
    assert best["epoch"] == members[0]["epoch"]
    for name, tensor in best["model"].items():
        assert torch.equal(members[0]["model"][name], tensor), name
    assert len({m["epoch"] for m in members}) == 3  # three distinct states


class StopsAfter(SyntheticSource):
    """A source whose ``n``-th training epoch dies, as a killed job (after n - 1 checkpoints)."""

    def __init__(self, n):
        super().__init__()
        self.left = n

    def batches(self, split, **kw):
        if split == "train":
            self.left -= 1
            if self.left == 0:
                raise KeyboardInterrupt
        return super().batches(split, **kw)


def test_a_resumed_run_keeps_the_same_ensemble(kept, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(config(KEEP), tmp_path, seed=0, source=StopsAfter(4))  # dies in epoch 4
    assert not (tmp_path / "ensemble.pt").exists()
    train(config(KEEP), tmp_path, seed=0, source=SyntheticSource())
    ours, theirs = load(tmp_path / "ensemble.pt")["members"], load(kept / "ensemble.pt")["members"]
    assert [m["epoch"] for m in ours] == [m["epoch"] for m in theirs]
    for a, b in zip(ours, theirs, strict=True):
        for name, tensor in b["model"].items():
            assert torch.equal(a["model"][name], tensor), name


def test_an_ensemble_of_copies_is_the_single_model(kept):
    cfg = config(KEEP)
    setup = build_setup(cfg, SyntheticSource().info, 0, optimizers=False)
    setup.model.load_state_dict(load(kept / "best.pt")["model"])
    setup.rule.load_state_dict(load(kept / "best.pt")["rule"])
    tasks = list(SyntheticSource().batches("test", seed=5, num_batches=4, meta_batch_size=1))
    from wheretolearn.algorithms.episodic import evaluate_tasks

    single = evaluate_tasks(setup.model, setup.rule, tasks, 5)
    pairs = [(setup.model, setup.rule)] * 3
    assert ensemble_accuracies(pairs, tasks, 5) == pytest.approx(single, abs=1e-6)


def test_one_state_kept_writes_no_ensemble(tmp_path):
    train(config({"train": {"epochs": 2, "validate_every": 1}}), tmp_path, seed=0,
          source=SyntheticSource())  # fmt: skip
    assert (tmp_path / "best.pt").exists() and not (tmp_path / "ensemble.pt").exists()


def test_more_states_than_validations_are_refused():
    with pytest.raises(ConfigError, match=r"train.keep_best: 3 states kept but only 2 valid"):
        config({"train": {"epochs": 4, "validate_every": 2, "keep_best": 3}})
