"""La-MAML's rectified learned learning rates (Gupta et al. 2020, as in its MNIST code).

``U(g) = relu(alpha) * g`` with the true gradient of the rectifier: a rate pushed below zero
gets zero gradient and stays dead for good. That is the difference from sparse-ReLU-MAML
(identity backward, so a closed rate can reopen) and what makes La-MAML's sparsity grow
monotonically (Figure 3 of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wheretolearn.algorithms.rules._parts import constant_parameters, param_key
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class LaMAMLOptions:
    alpha: Positive  # alpha_init: every rate starts here (0% sparsity)


@register("la-maml")
class LaMAMLRates(UpdateRule):
    """Per-element learning rates ``relu(alpha)``, learned through the rectifier."""

    EXAMPLE = {"alpha": 0.15}
    Options = LaMAMLOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.rates = constant_parameters(params, self.adapted, options.alpha)

    def begin(self, task: Task | None = None) -> Modulation:
        return {name: torch.relu(self.rates[param_key(name)]) for name in self.adapted}
