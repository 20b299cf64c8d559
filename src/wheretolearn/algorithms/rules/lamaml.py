"""La-MAML's rectified learned learning rates (Gupta et al. 2020, as in its MNIST code).

``U(g) = relu(alpha) * g`` with the true gradient of the rectifier: a rate pushed below zero
gets zero gradient and stays dead for good. That is the difference from sparse-ReLU-MAML
(identity backward, so a closed rate can reopen) and what makes La-MAML's sparsity grow
monotonically (Figure 3 of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wheretolearn.algorithms.rules import (
    Modulation,
    UpdateRule,
    constant_parameters,
    param_key,
    register,
)
from wheretolearn.validate import Positive


@dataclass(frozen=True)
class LaMAMLOptions:
    alpha: Positive = 0.15  # alpha_init: every rate starts here (0% sparsity)


@register("la-maml")
class LaMAMLRates(UpdateRule):
    """Per-element learning rates ``relu(alpha)``, learned through the rectifier."""

    Options = LaMAMLOptions
    has_meta_parameters = True

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.rates = constant_parameters(params, self.adapted, options.alpha)

    def begin(self) -> Modulation:
        return {name: torch.relu(self.rates[param_key(name)]) for name in self.adapted}
