"""Where a few-shot run's tasks come from: a protocol, and the prepared datasets' episodes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

import torch

from wheretolearn.algorithms.engine import plan_for, resolve_device
from wheretolearn.data.config import DataConfig


class TaskShape(Protocol):
    channels: int
    image_size: int


class TaskSource(Protocol):
    """Where episodes come from. Batch ``i`` of a call is a pure function of its arguments."""

    info: TaskShape

    def batches(
        self, split: str, *, seed: int, num_batches: int, meta_batch_size: int
    ) -> Iterable[Any]: ...


class EpisodeSource:
    """Tasks of a prepared dataset through :func:`wheretolearn.data.episode_loader`."""

    def __init__(
        self,
        data: DataConfig,
        root: str | None = None,
        image_size: int | None = None,
        device: str = "cpu",
    ) -> None:
        from wheretolearn.data import api

        self.data = data if image_size is None else replace(data, image_size=image_size)
        self.root = root
        # the plan of the named kind of device; whether it exists is build_setup's check
        plan = plan_for(torch.device(device) if device != "auto" else resolve_device(device))
        # workers and pinning never change a batch (batch i is a pure function of the seed)
        self.num_workers = plan.loader_workers if data.num_workers is None else data.num_workers
        self.pin_memory = plan.pin_memory
        described = api.describe(self.data.parts()[0])  # a mixture's parts share a shape
        self.info = replace(described, image_size=self.data.image_size or described.image_size)

    def batches(self, split: str, *, seed: int, num_batches: int, meta_batch_size: int):
        from wheretolearn.data.api import episode_loader, mixture_loader

        d = self.data
        common = {
            "root": self.root,
            "ways": d.ways,
            "shots": d.shots,
            "queries": d.queries,
            "meta_batch_size": meta_batch_size,
            "num_batches": num_batches,
            "seed": seed,
            "image_size": d.image_size,
            "normalisation": d.normalisation,
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
        }
        if len(d.parts()) > 1:
            return mixture_loader(d.parts(), d.probabilities(), split, **common)
        return episode_loader(d.dataset, split, **common)
