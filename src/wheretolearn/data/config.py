"""The data sections of a run's parameters: few-shot episodes (``data:``) and continual
streams (``stream:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wheretolearn.errors import ConfigError
from wheretolearn.validate import Count, Positive, Size, Ways

MIXTURE = "+"  # "cub+vgg-flowers": every task from one of the datasets (a mixture)


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Few-shot tasks of a prepared dataset: ``ways`` classes, ``shots`` support and
    ``queries`` query examples per class. A ``dataset`` of names joined by ``+`` is a mixture
    (GEMS): each task comes from one of them, drawn with probabilities proportional to
    ``weights`` (one per dataset; None: uniform), its classes all from that dataset."""

    dataset: str
    ways: Ways
    shots: Count
    queries: Count
    image_size: Count | None = None  # None: the dataset's own size
    normalisation: str | None = None  # None: the dataset's recorded default
    num_workers: Size | None = None  # None: the device's engine plan (algorithms/engine.py)
    weights: list[Positive] | None = None  # a mixture's draw weights, one per dataset

    def __post_init__(self) -> None:
        parts = self.parts()
        if len(set(parts)) != len(parts) or "" in parts:
            raise ConfigError(f"data.dataset: {self.dataset!r}: a mixture names each dataset once")
        if self.weights is not None and len(self.weights) != len(parts):
            raise ConfigError(
                f"data.weights: {len(self.weights)} weights for the {len(parts)} datasets of "
                f"{self.dataset!r}; give one per dataset, or none for uniform"
            )

    def parts(self) -> list[str]:
        """The datasets tasks come from: one, or a mixture's."""
        return self.dataset.split(MIXTURE)

    def probabilities(self) -> list[float]:
        """Each dataset's probability of giving a task."""
        weights = self.weights or [1.0] * len(self.parts())
        return [w / sum(weights) for w in weights]


@dataclass(frozen=True, kw_only=True)
class StreamConfig:
    """A continual-learning stream: tasks built from a pool of labelled images.

    ``rotations`` and ``permutations`` transform every image of task t by the task's rotation
    angle (drawn from the t-th of ``tasks`` equal bins of [0, 180) degrees) or fixed pixel
    permutation; ``split-classes`` gives task t the classes ``order[t*k:(t+1)*k]``
    (class-incremental, one head). Each task draws ``per_task`` training examples from the
    training pool and is tested on the whole test pool transformed the same way (or on its
    classes for ``split-classes``).
    """

    benchmark: Literal["rotations", "permutations", "split-classes"]
    dataset: str  # registry name of the training pool
    tasks: Count
    per_task: Count | None  # training examples per task; None: all of the task's pool
    train_split: str = "train"
    test_dataset: str | None = None  # None: the same dataset as the training pool
    test_split: str = "test"
    classes_per_task: Count = 2  # split-classes only
    test_per_task: Count | None = None  # None: the whole (transformed) test pool
    flatten: bool = True  # images as vectors (MLP) or [C, H, W] (convnet)
    seed: int | None = 0  # the stream's own seed (GEM's data are drawn once); None: run seed
