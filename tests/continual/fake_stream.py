"""A tiny synthetic continual stream for unit tests (no data files)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FakeTask:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def test(self):
        return self.test_x, self.test_y


class FakeStream:
    """``tasks`` permuted-Gaussian-blob tasks on ``dim`` inputs and ``classes`` classes."""

    def __init__(self, tasks=3, per_task=40, dim=12, classes=4, seed=0):
        g = torch.Generator().manual_seed(seed)
        centres = torch.randn(classes, dim, generator=g) * 2
        self.tasks = []
        for _ in range(tasks):
            perm = torch.randperm(dim, generator=g)
            y = torch.randint(classes, (per_task + 60,), generator=g)
            x = (centres[y] + torch.randn(len(y), dim, generator=g))[:, perm]
            self.tasks.append(FakeTask(x[:per_task], y[:per_task], x[per_task:], y[per_task:]))
        self.input_shape = (dim,)
        self.num_classes = classes

    def describe(self):
        return {"benchmark": "fake", "tasks": len(self.tasks)}
