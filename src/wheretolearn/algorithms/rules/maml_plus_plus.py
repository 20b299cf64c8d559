"""MAML++'s learned per-layer, per-step inner learning rates (LSLR; Antoniou et al. 2019).

The other pieces of MAML++ are options of the episodic loop, not of the rule: the multi-step
loss (``train.multi_step_loss``), derivative-order annealing (``train.first_order_epochs``)
and the cosine-annealed outer learning rate (``train.cosine_lr``); see
:mod:`wheretolearn.algorithms.schedules`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.validate import Count, Positive


@dataclass(frozen=True, kw_only=True)
class MAMLPlusPlusOptions:
    alpha: Positive  # every layer's rate at every step starts here
    steps: Count  # inner steps with their own rates: at least K_train and K_test
    learned_rates: bool = True  # LSLR; false: the rates stay at alpha (the ablation)


@register("maml-plus-plus")
class MAMLPlusPlus(UpdateRule):
    """``U_k(g) = alpha_{l,k} * g`` for parameter tensor ``l`` at inner step ``k``: one learned
    scalar per tensor and step, of any sign, as MAML++'s reference code (no clamp)."""

    EXAMPLE = {"alpha": 0.1, "steps": 8}  # covers the contract tests' loops
    per_step = True

    Options = MAMLPlusPlusOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        full = {
            param_key(n): torch.full((options.steps,), float(options.alpha)) for n in self.adapted
        }
        self.rates = nn.ParameterDict(
            {k: nn.Parameter(v, requires_grad=options.learned_rates) for k, v in full.items()}
        )

    def parameters(self, recurse: bool = True):
        """The learned rates, or nothing where they are fixed (no optimiser then)."""
        return (p for p in super().parameters(recurse) if p.requires_grad)

    def begin(self, task: Task | None = None) -> Modulation:
        return {name: self.rates[param_key(name)] for name in self.adapted}

    def step(
        self, k: int, name: str, phi: torch.Tensor, grad: torch.Tensor, modulation: Modulation
    ) -> torch.Tensor:
        rates = modulation[name]
        if k >= rates.shape[0]:
            raise ValueError(
                f"maml-plus-plus: inner step {k + 1} but rates for {rates.shape[0]} steps "
                "(method.steps must be at least every inner-loop length of the run)"
            )
        return phi - rates[k] * grad

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Per tensor, the fraction of its steps whose rate is exactly zero."""
        out = dict.fromkeys(self.shapes, 1.0)
        for name in self.adapted:
            out[name] = float((self.rates[param_key(name)] == 0).float().mean())
        return out
