"""sparse-MAML+ (supplement Eq. 11): conv-weight mask logits generated from a Gaussian.

``m = A (z * sigma + mu) + b + init_shift`` with ``z ~ N(0, I_E)`` drawn once per task,
``A in R^{N x E}``, ``b in R^N`` (N: all conv weights together), ``sigma, mu in R^E`` learned.
The binary mask ``1[m >= 0]`` and its straight-through backward are sparse-MAML's; every other
adapted tensor (biases, BatchNorm, head) keeps its own directly learned logits. The generator
is not conditioned on the task (as in the authors' code). ``A`` and ``b`` start as PyTorch's
``nn.Linear``, ``sigma`` at ones and ``mu`` at zeros, as the authors did.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import Modulation, Task, register
from wheretolearn.algorithms.rules.sparse import SparseMAML, SparseOptions
from wheretolearn.validate import Count


@dataclass(frozen=True, kw_only=True)
class PlusOptions(SparseOptions):
    embedding_dim: Count  # E


@register("sparse-maml-plus")
class SparseMAMLPlus(SparseMAML):
    EXAMPLE = {**SparseMAML.EXAMPLE, "embedding_dim": 8}
    Options = PlusOptions

    def __init__(self, params, head, options) -> None:
        self.generated = [n for n, p in params.items() if p.dim() == 4]  # conv weights
        super().__init__(params, head, options)
        self.generated = [n for n in self.generated if n in self.adapted]
        total = sum(params[n].numel() for n in self.generated)
        self.generator = nn.Linear(options.embedding_dim, total)
        self.sigma = nn.Parameter(torch.ones(options.embedding_dim))
        self.mu = nn.Parameter(torch.zeros(options.embedding_dim))
        self.noise = True  # False: the mean mask (z = 0), used to report sparsity

    def masked_names(self) -> list[str]:
        return [n for n in self.adapted if n not in self.generated]

    def generated_logits(self) -> dict[str, torch.Tensor]:
        z = torch.randn_like(self.sigma) if self.noise else torch.zeros_like(self.sigma)
        flat = self.generator(z * self.sigma + self.mu) + self.options.init_shift
        sizes = [torch.Size(self.shapes[n]).numel() for n in self.generated]
        pieces = torch.split(flat, sizes)
        return {n: p.view(self.shapes[n]) for n, p in zip(self.generated, pieces, strict=True)}

    def begin(self, task: Task | None = None) -> Modulation:
        alpha = self.options.alpha
        logits = {n: self.mask_logits[param_key(n)] for n in self.masked_names()}
        logits.update(self.generated_logits())
        return {n: alpha * self.mask(logits[n]) for n in self.adapted}

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Sparsity of the mean mask (z = 0); meta-learning drives sigma to 0 anyway."""
        self.noise = False
        try:
            return super().sparsity()
        finally:
            self.noise = True
