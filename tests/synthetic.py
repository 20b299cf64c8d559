"""Synthetic few-shot tasks for tests that exercise the loops, not the data layer.

Each class is a random prototype image; examples are the prototype plus Gaussian noise. A batch
is a pure function of (seed, index), like the real episode loader's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from wheretolearn.models.config import ModelConfig
from wheretolearn.seeding import derive_seed


def model_config(**kw) -> ModelConfig:
    """A conv4 config, the paper's architecture (B.1.1) unless ``kw`` says otherwise."""
    return ModelConfig(
        **{"name": "conv4", "hidden": 64, "bias": True, "batchnorm": "transductive", **kw}
    )


@dataclass(frozen=True)
class Batch:
    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor


@dataclass(frozen=True)
class Shape:
    channels: int = 1
    image_size: int = 16


class SyntheticSource:
    def __init__(self, ways=3, shots=2, queries=3, image_size=16, channels=1, noise=0.5):
        self.ways, self.shots, self.queries, self.noise = ways, shots, queries, noise
        self.info = Shape(channels, image_size)

    def task(self, seed: int):
        g = torch.Generator().manual_seed(seed)
        c, s = self.info.channels, self.info.image_size
        protos = torch.randn(self.ways, c, s, s, generator=g)

        def draw(n):
            x = protos.repeat_interleave(n, 0)
            x = x + self.noise * torch.randn(x.shape, generator=g)
            return x, torch.arange(self.ways).repeat_interleave(n)

        return (*draw(self.shots), *draw(self.queries))

    def batches(self, split, *, seed, num_batches, meta_batch_size):
        for i in range(num_batches):
            tasks = [self.task(derive_seed(seed, split, i, t)) for t in range(meta_batch_size)]
            yield Batch(*(torch.stack(parts) for parts in zip(*tasks, strict=True)))


def with_example(method: dict) -> dict:
    """``method`` with its rule's ``EXAMPLE`` options under it: a test names only the options
    it is about (a params file must name every option a paper sets)."""
    from wheretolearn.algorithms.rules.base import RULES

    return {"name": method["name"], **RULES.get(method["name"]).EXAMPLE, **method}


class Tiny(torch.nn.Module):
    """A linear classifier with the models' signature (``context``: BatchNorm's support set):
    small enough to write an inner step out by hand."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x, context=None):
        return self.layer(x)


def tiny(tasks: int = 2):
    """A float64 :class:`Tiny` (seed 0) and a meta-batch of ``tasks`` (at most 2) 3-way tasks
    of 6 support and 6 query examples."""
    from types import SimpleNamespace

    torch.manual_seed(0)
    model = Tiny().double()
    data = SimpleNamespace(
        support_x=torch.randn(2, 6, 4, dtype=torch.float64)[:tasks],
        support_y=torch.tensor([[0, 1, 2, 0, 1, 2], [2, 1, 0, 2, 1, 0]])[:tasks],
        query_x=torch.randn(2, 6, 4, dtype=torch.float64)[:tasks],
        query_y=torch.tensor([[0, 1, 2, 0, 1, 2], [1, 1, 0, 0, 2, 2]])[:tasks],
    )
    return model, data
