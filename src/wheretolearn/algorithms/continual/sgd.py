"""Single-pass SGD: the continual baseline without memory."""

from __future__ import annotations

import dataclasses

import torch

from wheretolearn.algorithms.continual._baseline import Baseline
from wheretolearn.algorithms.continual.base import register
from wheretolearn.validate import Count


@dataclasses.dataclass(frozen=True, kw_only=True)
class SGDOptions:
    """Options of the ``sgd`` learner.

    Attributes
    ----------
    steps:
        Gradient steps on each incoming batch (La-MAML's ``glances``).
    """

    steps: Count = 1


@register("sgd")
class SGD(Baseline):
    """Online SGD: ``steps`` steps on the mean loss of each incoming batch, no memory."""

    Options = SGDOptions

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        modulation = self._modulation()
        losses = [self._sgd_step(x, y, modulation) for _ in range(self.options.steps)]
        return float(torch.stack(losses).mean())
