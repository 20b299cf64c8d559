"""Learned per-element learning rates: Meta-SGD (any sign) and exp-MAML (exp(m), positive)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from wheretolearn.algorithms.rules._parts import (
    check_rate_init,
    constant_parameters,
    param_key,
    rate_parameters,
)
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class MetaSGDOptions:
    init: Literal["uniform", "constant"]
    alpha: Positive | None = None  # the initial rate when init is "constant" (required there)
    low: float | None = None  # uniform init range of Li et al. 2017, the authors' code (init
    high: float | None = None  # "uniform": both required, low < high)

    def __post_init__(self) -> None:
        check_rate_init(self)


@register("meta-sgd")
class MetaSGD(UpdateRule):
    """``U(g) = lr * g`` with a learned rate per element, of any sign (Li et al. 2017)."""

    EXAMPLE = {"init": "uniform", "low": 0.005, "high": 0.1}

    Options = MetaSGDOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.rates = rate_parameters(params, self.adapted, options)

    def begin(self, task: Task | None = None) -> Modulation:
        return {name: self.rates[param_key(name)] for name in self.adapted}


@dataclass(frozen=True, kw_only=True)
class ExpOptions:
    alpha: Positive  # initial rate: m starts at log(alpha) everywhere


@register("exp-maml")
class ExpMAML(UpdateRule):
    """``U(g) = exp(m) * g`` (Yang et al.'s positive parameterisation). The paper does not give
    exp-MAML's initialisation; ``m = log(alpha)`` starts it exactly at MAML."""

    EXAMPLE = {"alpha": 0.1}

    Options = ExpOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.logits = constant_parameters(params, self.adapted, math.log(options.alpha))

    def begin(self, task: Task | None = None) -> Modulation:
        return {name: torch.exp(self.logits[param_key(name)]) for name in self.adapted}
