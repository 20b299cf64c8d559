"""Continual-learning metrics from the accuracy matrix, as defined by GEM (Lopez-Paz & Ranzato).

``R[i, j]`` is the test accuracy on task ``j`` after training on tasks ``0..i``.
"""

from __future__ import annotations

import numpy as np


def _square(matrix) -> np.ndarray:
    r = np.asarray(matrix, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"the accuracy matrix must be square and non-empty, got {r.shape}")
    return r


def retained_accuracy(matrix) -> float:
    """RA: the mean of the last row (accuracy on every task at the end)."""
    return float(_square(matrix)[-1].mean())


def backward_transfer(matrix) -> float:
    """BTI: the mean over tasks of ``R[T-1, t] - R[t, t]`` (the last task contributes 0)."""
    r = _square(matrix)
    return float((r[-1] - np.diag(r)).mean())


def learning_accuracy(matrix) -> float:
    """The mean of the diagonal: accuracy on each task just after learning it."""
    return float(np.diag(_square(matrix)).mean())
