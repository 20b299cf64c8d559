"""Learned per-element learning rates: Meta-SGD (any sign) and exp-MAML (exp(m), positive)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from wheretolearn.algorithms.rules import (
    Modulation,
    UpdateRule,
    constant_parameters,
    param_key,
    register,
)
from wheretolearn.validate import Positive


@dataclass(frozen=True)
class MetaSGDOptions:
    alpha: Positive = 0.1  # the constant initial rate when init is "constant"
    init: Literal["uniform", "constant"] = "uniform"
    low: float = 0.005  # uniform init range of Li et al. 2017 (and the authors' code)
    high: float = 0.1


@register("meta-sgd")
class MetaSGD(UpdateRule):
    """``U(g) = lr * g`` with a learned rate per element, of any sign (Li et al. 2017)."""

    Options = MetaSGDOptions
    has_meta_parameters = True

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

    def begin(self) -> Modulation:
        return {name: self.rates[param_key(name)] for name in self.adapted}


@dataclass(frozen=True)
class ExpOptions:
    alpha: Positive = 0.1  # initial rate: m starts at log(alpha) everywhere


@register("exp-maml")
class ExpMAML(UpdateRule):
    """``U(g) = exp(m) * g`` (Yang et al.'s positive parameterisation). The paper does not give
    exp-MAML's initialisation; ``m = log(alpha)`` starts it exactly at MAML."""

    Options = ExpOptions
    has_meta_parameters = True

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.logits = constant_parameters(params, self.adapted, math.log(options.alpha))

    def begin(self) -> Modulation:
        return {name: torch.exp(self.logits[param_key(name)]) for name in self.adapted}
