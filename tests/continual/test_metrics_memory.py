"""Continual metrics on a hand-computed accuracy matrix; reservoir sampling is uniform."""

from __future__ import annotations

import math

import pytest
import torch

from wheretolearn.algorithms.continual.memory import Reservoir
from wheretolearn.algorithms.continual.metrics import (
    backward_transfer,
    learning_accuracy,
    retained_accuracy,
)

# R[i][j]: accuracy on task j after learning tasks 0..i (None: not yet seen)
R = [
    [90.0, None, None],
    [70.0, 80.0, None],
    [60.0, 75.0, 85.0],
]


def test_metrics_by_hand():
    assert retained_accuracy(R) == pytest.approx((60 + 75 + 85) / 3)
    # (60 - 90) + (75 - 80) + (85 - 85) = -35, over 3 tasks
    assert backward_transfer(R) == pytest.approx(-35 / 3)
    assert learning_accuracy(R) == pytest.approx((90 + 80 + 85) / 3)


def test_metrics_refuse_a_non_square_matrix():
    with pytest.raises(ValueError, match="square"):
        retained_accuracy([[1.0, 2.0]])


def test_reservoir_keeps_a_uniform_sample():
    """Offer items 0..n-1 to a reservoir of k slots, many times with one fixed seed: each item
    must be kept with probability k/n. Pearson's chi-square over the n inclusion counts has
    n-1 degrees of freedom; the bound is its 99.99% quantile (Wilson-Hilferty)."""
    n, k, trials = 60, 6, 1500
    g = torch.Generator().manual_seed(1234)
    counts = torch.zeros(n)
    items = torch.arange(n, dtype=torch.float32).unsqueeze(1)
    labels = torch.arange(n)
    for _ in range(trials):
        memory = Reservoir(k, g)
        memory.add(items, labels, task=0)
        assert len(memory) == k and memory.seen == n
        counts[memory.y[: len(memory)]] += 1
    assert len(set(memory.y.tolist())) == k  # no duplicates
    expected = trials * k / n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof, z = n - 1, 3.719  # z of the 99.99% quantile
    bound = dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3
    assert chi2 < bound, (chi2, bound)
    # and not trivially: the last items are kept as often as the first ones
    assert abs(float(counts[: n // 2].sum() - counts[n // 2 :].sum())) < 0.1 * trials * k


def test_reservoir_sample_state_round_trip():
    g = torch.Generator().manual_seed(0)
    memory = Reservoir(5, g)
    memory.add(torch.randn(3, 2), torch.tensor([0, 1, 2]), task=4)
    copy = memory.copy()
    assert len(copy) == 3 and copy.t[:3].tolist() == [4, 4, 4]
    x, y, t = memory.sample(10)
    assert len(x) == 3 and sorted(y.tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="empty"):
        Reservoir(5, g).sample(1)
