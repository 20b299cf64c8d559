"""Replay memory filled by reservoir sampling (Vitter's Algorithm R, as in MER)."""

from __future__ import annotations

from typing import Any

import torch


class Reservoir:
    """A fixed-size uniform sample of every example offered so far.

    After ``n`` examples have been offered, each of them is in the buffer with probability
    ``capacity / n`` (for ``n > capacity``): the ``n``-th example replaces a uniformly chosen
    slot with probability ``capacity / n``. Randomness comes from ``generator`` only.
    """

    def __init__(self, capacity: int, generator: torch.Generator) -> None:
        if capacity < 0:
            raise ValueError(f"memory size must be non-negative, got {capacity}")
        self.capacity = capacity
        self.generator = generator
        self.seen = 0
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None
        self.t: torch.Tensor | None = None
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def _allocate(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x = torch.empty((self.capacity, *x.shape[1:]), dtype=x.dtype, device=x.device)
        self.y = torch.empty((self.capacity,), dtype=y.dtype, device=y.device)
        self.t = torch.empty((self.capacity,), dtype=torch.int64, device=y.device)

    def add(self, x: torch.Tensor, y: torch.Tensor, task: int) -> None:
        """Offer every example of a batch, in order."""
        if self.capacity == 0:
            self.seen += len(x)
            return
        if self.x is None:
            self._allocate(x, y)
        for i in range(len(x)):
            self.seen += 1
            if self.size < self.capacity:
                slot = self.size
                self.size += 1
            else:
                slot = int(torch.randint(self.seen, (1,), generator=self.generator))
                if slot >= self.capacity:
                    continue
            self.x[slot] = x[i]
            self.y[slot] = y[i]
            self.t[slot] = task

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Up to ``n`` distinct stored examples, uniformly without replacement."""
        n = min(n, self.size)
        if n == 0 or self.x is None:
            raise ValueError("the replay memory is empty")
        index = torch.randperm(self.size, generator=self.generator)[:n].to(self.x.device)
        return self.x[index], self.y[index], self.t[index]

    def copy(self) -> Reservoir:
        """A frozen copy (e.g. the memory of the past tasks, taken at a task boundary)."""
        other = Reservoir(self.capacity, self.generator)
        other.load_state(self.state())
        return other

    def state(self) -> dict[str, Any]:
        keep = slice(0, self.size)
        return {
            "capacity": self.capacity,
            "seen": self.seen,
            "x": None if self.x is None else self.x[keep].clone(),
            "y": None if self.y is None else self.y[keep].clone(),
            "t": None if self.t is None else self.t[keep].clone(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.capacity, self.seen = state["capacity"], state["seen"]
        self.size = 0 if state["x"] is None else len(state["x"])
        self.x = self.y = self.t = None
        if state["x"] is not None:
            self._allocate(state["x"], state["y"])
            self.x[: self.size] = state["x"]
            self.y[: self.size] = state["y"]
            self.t[: self.size] = state["t"]
