"""Seeded few-shot episodes with torchmeta's classes: ClassDataset, ClassSplitter, loader.

Batch ``i`` of a loader is a pure function of (dataset, split, ways, shots, queries,
meta_batch_size, seed, i, image size, normalisation): :class:`EpisodeSampler` draws each task's
classes (in a random order, which fixes the labels 0..ways-1) and a task seed from
``numpy.random.default_rng([seed, i])``; :class:`SeededEpisodes` builds the task with a fresh
``ClassSplitter`` seeded by that task seed. torchmeta's splitter also adds ``hash(task)``: the
task's index here is a tuple of ints, whose hash does not depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Sampler
from torchmeta.transforms import ClassSplitter
from torchmeta.utils.data import BatchMetaDataLoader, ClassDataset, CombinationMetaDataset
from torchmeta.utils.data import Dataset as TaskDataset
from torchmeta.utils.data.task import ConcatTask


@dataclass(frozen=True)
class TaskBatch:
    """A meta-batch of T few-shot tasks (see :func:`wheretolearn.data.episode_loader`)."""

    support_x: torch.Tensor  # [T, ways*shots, C, H, W] float32
    support_y: torch.Tensor  # [T, ways*shots] int64 in [0, ways)
    query_x: torch.Tensor  # [T, ways*queries, C, H, W] float32
    query_y: torch.Tensor  # [T, ways*queries] int64


class ToFloatTensor:
    """uint8 [H, W, C] -> float32 [C, H, W] in [0, 1], optionally resized and normalised."""

    def __init__(self, size: int | None = None, mean=None, std=None):
        self.size = size
        self.mean = None if mean is None else torch.tensor(mean).view(-1, 1, 1)
        self.std = None if std is None else torch.tensor(std).view(-1, 1, 1)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
        if self.size is not None and x.shape[-1] != self.size:
            x = torch.nn.functional.interpolate(
                x[None], size=(self.size, self.size), mode="bilinear", antialias=True
            )[0]
        if self.mean is not None:
            x = (x - self.mean) / self.std
        return x


class Rotation:
    """Class augmentation in torchmeta's style: rotate a uint8 [H, W, C] image counterclockwise."""

    def __init__(self, angle):
        self._angles = list(angle) if isinstance(angle, list | tuple) else [angle]
        self.angle = None if isinstance(angle, list | tuple) else angle

    def __iter__(self):
        return iter(Rotation(angle) for angle in self._angles)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.rot90(image, k=(self.angle % 360) // 90, axes=(0, 1))

    def __repr__(self):
        return f"Rotation({self.angle if self.angle is not None else self._angles})"

    def __hash__(self):
        return hash(repr(self))

    def __eq__(self, other):
        return isinstance(other, Rotation) and repr(self) == repr(other)


class ArrayClassTask(TaskDataset):
    """The examples of one class, held in memory; targets are the class index."""

    def __init__(self, index: int, data: np.ndarray, transform=None):
        super().__init__(index, transform=transform)
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        image = self.data[i]
        if self.transform is not None:
            image = self.transform(image)
        target = self.index
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


class ArrayClassDataset(ClassDataset):
    """A torchmeta ClassDataset over per-class uint8 arrays [N, H, W, C] of one meta-split."""

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        names: Sequence[str],
        meta_split: str,
        transform=None,
        class_augmentations=None,
    ):
        super().__init__(meta_split=meta_split, class_augmentations=class_augmentations)
        self.arrays, self.names, self.transform = list(arrays), list(names), transform

    @property
    def num_classes(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> ArrayClassTask:
        data = self.arrays[index % self.num_classes]
        return ArrayClassTask(index, data, transform=self.get_transform(index, self.transform))


class PositionLabel:
    """Target transform: a class index -> its position in the task's class tuple."""

    def __init__(self, classes: Sequence[int]):
        self.lookup = {c: k for k, c in enumerate(classes)}

    def __call__(self, target: int) -> int:
        return self.lookup[target]


class SeededEpisodes(CombinationMetaDataset):
    """Tasks indexed by ``(classes, task_seed)``; support/query split by a seeded ClassSplitter."""

    def __init__(self, dataset: ArrayClassDataset, ways: int, shots: int, queries: int):
        super().__init__(dataset, num_classes_per_task=ways)
        self.shots, self.queries = shots, queries

    def __getitem__(self, key):
        classes, task_seed = key
        task = ConcatTask(
            [self.dataset[c] for c in classes],
            self.num_classes_per_task,
            target_transform=PositionLabel(classes),
        )
        splitter = ClassSplitter(
            shuffle=True,
            num_support_per_class=self.shots,
            num_query_per_class=self.queries,
            random_state_seed=task_seed,
        )
        return splitter(task)


class EpisodeSampler(Sampler):
    """Yields ``(classes, task_seed)`` for ``num_batches`` batches of ``tasks`` tasks each."""

    def __init__(self, num_classes: int, ways: int, tasks: int, num_batches: int, seed: int):
        self.num_classes, self.ways, self.tasks = num_classes, ways, tasks
        self.num_batches, self.seed = num_batches, seed % (1 << 63)

    def batch_keys(self, i: int) -> list[tuple[tuple[int, ...], int]]:
        rng = np.random.default_rng([self.seed, i])
        keys = []
        for _ in range(self.tasks):
            classes = tuple(int(c) for c in rng.choice(self.num_classes, self.ways, replace=False))
            keys.append((classes, int(rng.integers(1 << 31))))
        return keys

    def __iter__(self):
        for i in range(self.num_batches):
            yield from self.batch_keys(i)

    def __len__(self) -> int:
        return self.num_batches * self.tasks


class EpisodeLoader:
    """Iterable of :class:`TaskBatch`; ``len()`` is the number of batches."""

    def __init__(
        self,
        episodes: SeededEpisodes,
        sampler: EpisodeSampler,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        self.sampler = sampler
        self.loader = BatchMetaDataLoader(
            episodes,
            batch_size=sampler.tasks,
            shuffle=False,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
        )

    def __len__(self) -> int:
        return self.sampler.num_batches

    def __iter__(self):
        for batch in self.loader:
            (sx, sy), (qx, qy) = batch["support"], batch["query"]
            yield TaskBatch(support_x=sx, support_y=sy, query_x=qx, query_y=qy)
