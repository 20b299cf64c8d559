"""Learned step sizes, one scalar per parameter tensor, of any sign (C-MAML / OSAKA).

``U(g) = s_name * g``: every adapted tensor has one learned step size ``s_name`` (a 0-d
meta-parameter), initialised at ``alpha`` and unconstrained in sign. This is the inner update
of C-MAML in the authors' code (``learn_step_size`` and ``per_param_step_size`` both true: one
0-d step per named parameter tensor, trained by the outer optimiser), which the supplement
(B.3.1) describes as "a small set of meta-learned learning rates that were shared for large
parameter groups and which were not restricted to be non-negative". Meta-SGD
(:mod:`wheretolearn.algorithms.rules.metasgd`) is the per-element version.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class TensorLROptions:
    alpha: Positive  # every tensor's step size starts here (the authors' step_size)


@register("tensor-lr")
class TensorLR(UpdateRule):
    """``U(g) = s_name * g`` with one learned scalar step per tensor, any sign."""

    EXAMPLE = {"alpha": 0.1}
    Options = TensorLROptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.steps = nn.ParameterDict(
            {
                param_key(n): nn.Parameter(
                    torch.tensor(float(options.alpha), dtype=params[n].dtype)
                )
                for n in self.adapted
            }
        )

    def begin(self, task: Task | None = None) -> Modulation:
        return {name: self.steps[param_key(name)] for name in self.adapted}
