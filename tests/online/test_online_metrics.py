"""Cumulative online accuracy, per mode, and the detector's precision and recall, checked by
hand on constructed streams; the switch test at its exact threshold."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from wheretolearn.algorithms.online.learner import StepRecord
from wheretolearn.algorithms.online.metrics import OnlineMetrics, detect_switch
from wheretolearn.algorithms.online.run import run_online

# step: (mode, true switch, accuracy of the stub's prediction, the stub's detection)
SCRIPT = [
    ("omniglot", False, 0.0, False),
    ("omniglot", False, 0.5, False),
    ("mnist", True, 0.25, True),
    ("mnist", False, 1.0, True),
    ("fashion-mnist", True, 0.75, False),
    ("omniglot", True, 1.0, True),
]


class ScriptedStream:
    def __len__(self):
        return len(SCRIPT)

    def batch(self, t):
        mode, switched, _, _ = SCRIPT[t]
        return SimpleNamespace(x=torch.zeros(2, 1), y=torch.zeros(2, dtype=torch.long),
                               mode=mode, switched=switched)  # fmt: skip


class StubLearner:
    """Predicts with known per-step accuracies; learns nothing."""

    def __init__(self):
        self.model = torch.nn.Linear(1, 1)
        self.rule = SimpleNamespace()
        self.t = 0

    def observe(self, x, y):
        _, _, accuracy, detected = SCRIPT[self.t]
        self.t += 1
        return StepRecord(accuracy, 1.0, 0.0, detected, False)


def test_cumulative_accuracy_per_mode_precision_and_recall_by_hand():
    out = run_online(StubLearner(), ScriptedStream())["metrics"]
    assert out["steps"] == 6
    assert out["accuracy"] == pytest.approx(100 * 3.5 / 6)  # (0 + .5 + .25 + 1 + .75 + 1) / 6
    assert out["per_mode"] == pytest.approx(
        {"omniglot": 100 * 1.5 / 3, "mnist": 100 * 1.25 / 2, "fashion-mnist": 75.0}
    )
    assert out["steps_per_mode"] == {"omniglot": 3, "mnist": 2, "fashion-mnist": 1}
    # true switches at 2, 4, 5; detections at 2, 3, 5: hits 2 and 5
    assert (out["switches"], out["detections"], out["true_detections"]) == (3, 3, 2)
    assert out["precision"] == pytest.approx(2 / 3) and out["recall"] == pytest.approx(2 / 3)


def test_the_history_records_every_step_as_it_happened():
    history = run_online(StubLearner(), ScriptedStream())["history"]
    assert history == [[m, s, d, a] for m, s, a, d in SCRIPT]


def test_total_is_the_step_weighted_mean_of_the_modes():
    out = run_online(StubLearner(), ScriptedStream())["metrics"]
    weighted = sum(out["per_mode"][m] * n for m, n in out["steps_per_mode"].items()) / 6
    assert out["accuracy"] == pytest.approx(weighted)


def test_undefined_precision_and_recall_are_none_and_bad_input_is_refused():
    m = OnlineMetrics()
    m.record("mnist", 0.5, switched=False, detected=False)
    assert m.summary()["precision"] is None and m.summary()["recall"] is None
    with pytest.raises(ValueError, match="fraction in \\[0, 1\\]"):
        m.record("mnist", 50.0, switched=False, detected=False)
    with pytest.raises(ValueError, match="no step"):
        OnlineMetrics().summary()


def test_the_switch_test_fires_on_a_drop_of_exactly_gamma_and_not_just_below():
    # dyadic numbers: every sum is exact in binary floating point
    assert detect_switch(2.5, 0.5, 2.0)
    assert not detect_switch(2.5, 0.5 + 2.0**-20, 2.0)
    assert detect_switch(2.5, 0.5 - 2.0**-20, 2.0)
    assert not detect_switch(0.5, 2.5, 2.0)  # a rise is never a switch
