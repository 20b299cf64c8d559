"""Our engine and the benchmark's re-implementation of the authors' algorithm agree (float64)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def check():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import cases

        return cases.float64_check()
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("model", ["conv4", "resnet12"])
def test_reference_gives_our_gradients_float64(check, model):
    assert check[f"{model}_max_abs_grad_diff"] < 1e-12


@pytest.mark.parametrize("model", ["conv4", "resnet12"])
def test_reference_gives_our_evaluation_accuracies_float64(check, model):
    assert check[f"{model}_eval_accuracies_equal"]
