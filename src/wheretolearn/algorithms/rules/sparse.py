"""Binary and rectified gradient masks learned by the straight-through first-order rule.

sparse-MAML: ``U(g) = alpha * 1[m >= 0] * g``. The mask's backward is ``ste_scale`` times the
identity, so with the inner gradients detached (first order) one ordinary ``backward()`` of
the outer loss gives ``dL/dm = -ste_scale * alpha * g_out * sum_k g_in_k``: Eq. 5 / Eq. 10 of
the paper with ``ste_scale = 1``. The authors' code writes the mask ``0.5 * (sign(m) + 1)``
whose backward carries a factor 0.5; ``ste_scale: 0.5`` reproduces that choice. Under Adam the
factor changes almost nothing (Adam is invariant to a constant gradient scale up to epsilon).

sparse-ReLU-MAML: ``U(g) = relu(m) * g`` with an identity backward, so a learning rate pushed
below zero can come back (unlike La-MAML's rectified rates). The mask is the learning rate. Its
rates start at exactly ``alpha`` (``init: constant``, the few-shot protocol) or uniformly in
``[low, high]`` (``init: uniform``; supplement B.3: U[0.005, 0.1] for every sparse-ReLU-C-MAML
run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import (
    check_rate_init,
    init_mask_logits,
    param_key,
    rate_parameters,
    straight_through,
)
from wheretolearn.algorithms.rules.base import Modulation, Task, UpdateRule, register
from wheretolearn.errors import ConfigError
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class SparseOptions:
    alpha: Positive  # inner-loop learning rate of the open coordinates
    init_shift: float  # added to the centred mask logits: 0 gives ~50% initial sparsity
    # kaiming: the authors' few-shot init (centred, plus init_shift); constant: every logit
    # equals init_shift (sparse-La-MAML: the mask starts where La-MAML's rates start)
    init: Literal["kaiming", "constant"] = "kaiming"
    ste_scale: Positive  # straight-through backward factor: 1 (paper's Eq. 5), 0.5 (code)

    def __post_init__(self) -> None:
        # A logit exactly 0 sits on the threshold: 1[m >= 0] opens it with a full step, the
        # authors' 0.5 (sign(m) + 1) with a half step. Kaiming logits are never exactly 0; a
        # constant init at 0 would put every coordinate there, so it is refused.
        if self.init == "constant" and self.init_shift == 0:
            raise ConfigError(
                "method.init_shift: 0 with init: constant puts every mask logit on the "
                "threshold, where the binary mask's value is a convention (ours 1, the "
                "authors' 0.5 (sign(0) + 1) = 0.5); choose a nonzero init_shift"
            )


@register("sparse-maml")
class SparseMAML(UpdateRule):
    """Binary gradient mask ``1[m >= 0]`` on every adapted tensor."""

    EXAMPLE = {"alpha": 0.1, "init_shift": 0.0, "ste_scale": 1.0}

    Options = SparseOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.mask_logits = nn.ParameterDict(
            {
                param_key(n): nn.Parameter(self.initial_logits(params[n]))
                for n in self.masked_names()
            }
        )

    def initial_logits(self, like: torch.Tensor) -> torch.Tensor:
        if self.options.init == "constant":
            return torch.full_like(like, self.options.init_shift, requires_grad=False)
        return init_mask_logits(like, self.options.init_shift)

    def masked_names(self) -> list[str]:
        return self.adapted

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        binary = (logits >= 0).to(logits.dtype)
        return straight_through(binary, logits, self.options.ste_scale)

    def begin(self, task: Task | None = None) -> Modulation:
        alpha = self.options.alpha
        return {n: alpha * self.mask(self.mask_logits[param_key(n)]) for n in self.adapted}


@dataclass(frozen=True, kw_only=True)
class ReLUOptions:
    alpha: Positive | None = None  # init constant: every rate starts at alpha (0% sparsity)
    init: Literal["constant", "uniform"] = "constant"
    low: float | None = None  # init uniform: rates start in U[low, high] (both required)
    high: float | None = None

    def __post_init__(self) -> None:
        check_rate_init(self)


@register("sparse-relu-maml")
class SparseReLUMAML(UpdateRule):
    """Rectified learned learning rates ``relu(m)``, straight-through (identity) backward."""

    EXAMPLE = {"alpha": 0.1}

    Options = ReLUOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.rates = rate_parameters(params, self.adapted, options)

    def begin(self, task: Task | None = None) -> Modulation:
        out = {}
        for name in self.adapted:
            m = self.rates[param_key(name)]
            out[name] = straight_through(torch.relu(m), m, 1.0)
        return out
