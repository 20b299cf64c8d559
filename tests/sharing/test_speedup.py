"""The speed-up of gs_speedup and gs_lr by hand: smoothing, "reach", a run that never reaches."""

from __future__ import annotations

import pytest

from wheretolearn.experiments.fewshot.speedup import smoothed, speedup


def test_smoothing_is_a_trailing_mean():
    assert smoothed([10.0, 20.0, 60.0, 0.0], 3) == pytest.approx([10.0, 15.0, 30.0, 80 / 3])
    assert smoothed([1.0, 2.0], 1) == [1.0, 2.0]


def test_speedup_counts_iterations_to_the_baselines_best_smoothed_accuracy():
    iterations = [100, 200, 300, 400, 500]
    # baseline smoothed (window 2): 40, 45, 55, 60, 60 -> its best (60) first at 400
    baseline = (iterations, [40.0, 50.0, 60.0, 60.0, 60.0])
    # shared smoothed: 50, 60, ... -> reaches 60 at 200: 400 / 200 - 1 = +100%
    shared = (iterations, [50.0, 70.0, 50.0, 50.0, 50.0])
    assert speedup(baseline, shared, 2) == {
        "baseline_iterations": 400, "shared_iterations": 200, "speedup": 100.0
    }  # fmt: skip
    # raw curves (window 1): the baseline's best 60 first at 300; shared reaches it at 200
    assert speedup(baseline, shared, 1)["speedup"] == pytest.approx(50.0)


def test_a_shared_run_that_never_reaches_the_best_has_no_speedup():
    iterations = [10, 20, 30]
    found = speedup((iterations, [30.0, 70.0, 50.0]), (iterations, [30.0, 40.0, 69.0]), 1)
    assert found == {"baseline_iterations": 20, "shared_iterations": None, "speedup": None}


def test_a_slower_shared_run_has_a_negative_speedup():
    iterations = [10, 20, 30, 40]
    found = speedup((iterations, [50.0, 60.0, 55.0, 55.0]), (iterations, [40, 50, 55, 61.0]), 1)
    assert found["speedup"] == pytest.approx(100 * (20 / 40 - 1))
