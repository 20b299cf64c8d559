"""Learned per-element learning rates: Meta-SGD (any sign) and exp-MAML (exp(m), positive)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import constant_parameters, param_key
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.errors import ConfigError
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class MetaSGDOptions:
    init: Literal["uniform", "constant"]
    alpha: Positive | None = None  # the initial rate when init is "constant" (required there)
    low: float | None = None  # uniform init range of Li et al. 2017, the authors' code (init
    high: float | None = None  # "uniform": both required, low < high)

    def __post_init__(self) -> None:
        if self.init == "constant" and self.alpha is None:
            raise ConfigError("missing key method.alpha (method.init is constant)")
        if self.init == "uniform":
            if self.low is None or self.high is None:
                raise ConfigError("missing key method.low or method.high (method.init is uniform)")
            if not self.low < self.high:
                raise ConfigError(
                    f"method.low: must be < method.high, got {self.low} >= {self.high}"
                )


@register("meta-sgd")
class MetaSGD(UpdateRule):
    """``U(g) = lr * g`` with a learned rate per element, of any sign (Li et al. 2017)."""

    EXAMPLE = {"init": "uniform", "low": 0.005, "high": 0.1}

    Options = MetaSGDOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.rates = nn.ParameterDict()
        for name in self.adapted:
            value = torch.empty_like(params[name], requires_grad=False)
            if options.init == "uniform":
                nn.init.uniform_(value, options.low, options.high)
            else:
                value.fill_(options.alpha)
            self.rates[param_key(name)] = nn.Parameter(value)

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
