"""Seeded few-shot episodes, built exactly as torchmeta 1.8.0's ClassSplitter builds them.

Batch ``i`` of a loader is a pure function of (dataset, split, ways, shots, queries,
meta_batch_size, seed, i, image size, normalisation): :class:`EpisodeSampler` draws each task's
classes (in a random order, which fixes the labels 0..ways-1) and a task seed from
``numpy.random.default_rng([seed, i])``; :class:`SeededEpisodes` splits the task's examples as
a fresh ``ClassSplitter`` seeded by that task seed would. torchmeta's splitter also adds
``hash(task)``: the task's index here is a tuple of ints, whose hash does not depend on
``PYTHONHASHSEED``.

torchmeta itself is not imported here: it imports torchvision, whose models import
``torch._dynamo``, about 1.4 s of every job's start-up for three index computations. The tasks
are checked against torchmeta's own classes, bit for bit, in the tests; the prepared files stay
in the format ``torchmeta.datasets`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.utils.data
from torch.utils.data import Sampler


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
    """Rotate a uint8 [H, W, C] image counterclockwise by a multiple of 90 degrees."""

    def __init__(self, angle: int):
        self.angle = angle

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.rot90(image, k=(self.angle % 360) // 90, axes=(0, 1))

    def __repr__(self):
        return f"Rotation({self.angle})"


class ClassPool:
    """The classes of one meta-split: per-class uint8 arrays [N, H, W, C], each class also
    rotated by each angle of ``rotations`` as a class of its own (class augmentation).

    Class ``c`` is ``arrays[c % n]``, rotated by ``rotations[c // n - 1]`` when ``c >= n``:
    torchmeta's ``ClassDataset`` numbering with ``class_augmentations``.
    """

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        names: Sequence[str],
        transform: ToFloatTensor,
        rotations: Sequence[int] = (),
    ):
        self.arrays, self.names, self.transform = list(arrays), list(names), transform
        self.rotations = [Rotation(angle) for angle in dict.fromkeys(rotations)]

    @property
    def num_classes(self) -> int:
        return len(self.arrays)

    def __len__(self) -> int:
        return self.num_classes * (len(self.rotations) + 1)

    def examples(self, c: int) -> int:
        return len(self.arrays[c % self.num_classes])

    def image(self, c: int, i: int) -> torch.Tensor:
        image = self.arrays[c % self.num_classes][i]
        augment = c // self.num_classes - 1
        if augment >= 0:
            image = self.rotations[augment](image)
        return self.transform(image)


class SeededEpisodes(torch.utils.data.Dataset):
    """Tasks indexed by ``(classes, task_seed)``: torchmeta's ``ClassSplitter`` (shuffled,
    seeded) over a ``ConcatTask`` of the classes, reproduced index for index, so a task is the
    same as torchmeta 1.8.0 builds it (tests/data/test_episodes_match_torchmeta.py).

    For the class at position k (label k) with n examples, the examples are permuted by
    ``RandomState((hash(classes) + c + task_seed) % 2**32)``; the first ``shots`` go to the
    support set and the next ``queries`` to the query set, each shuffled by one
    ``RandomState(task_seed)`` shared over the classes of the task, in class order.
    """

    def __init__(self, pool: ClassPool, ways: int, shots: int, queries: int):
        self.pool, self.ways, self.shots, self.queries = pool, ways, shots, queries

    def _split(self, classes: tuple[int, ...], task_seed: int):
        shuffle = np.random.RandomState(seed=task_seed)
        support, query = [], []
        for k, c in enumerate(classes):
            seed = (hash(classes) + hash(c) + task_seed) % (2**32)
            order = np.random.RandomState(seed).permutation(self.pool.examples(c))
            for part, start, size in ((support, 0, self.shots), (query, self.shots, self.queries)):
                picked = order[start : start + size]
                shuffle.shuffle(picked)
                part.extend((k, c, int(i)) for i in picked)
        return support, query

    def _tensors(self, part) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([self.pool.image(c, i) for _, c, i in part])
        return images, torch.tensor([k for k, _, _ in part], dtype=torch.int64)

    def __getitem__(self, key):
        classes, task_seed = key
        support, query = self._split(tuple(classes), task_seed)
        return (*self._tensors(support), *self._tensors(query))


def _stack_tasks(tasks) -> TaskBatch:
    return TaskBatch(*(torch.stack(parts) for parts in zip(*tasks, strict=True)))


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


class MixtureEpisodes(torch.utils.data.Dataset):
    """Tasks of several datasets, indexed by ``(part, classes, task_seed)``: part ``p``'s task
    is exactly what its own :class:`SeededEpisodes` gives for ``(classes, task_seed)``."""

    def __init__(self, parts: list[SeededEpisodes]):
        self.parts = parts

    def __getitem__(self, key):
        part, classes, task_seed = key
        return self.parts[part][(classes, task_seed)]


class MixtureSampler(EpisodeSampler):
    """Per task of batch ``i``: a dataset drawn with ``probabilities``, then ``ways`` of its
    classes and a task seed, all from ``default_rng([seed, i])``."""

    def __init__(self, num_classes: list[int], probabilities: list[float], ways: int,
                 tasks: int, num_batches: int, seed: int):  # fmt: skip
        super().__init__(min(num_classes), ways, tasks, num_batches, seed)
        self.part_classes, self.probabilities = num_classes, probabilities

    def batch_keys(self, i: int) -> list[tuple[int, tuple[int, ...], int]]:
        rng = np.random.default_rng([self.seed, i])
        keys = []
        for _ in range(self.tasks):
            part = int(rng.choice(len(self.part_classes), p=self.probabilities))
            chosen = rng.choice(self.part_classes[part], self.ways, replace=False)
            keys.append((part, tuple(int(c) for c in chosen), int(rng.integers(1 << 31))))
        return keys


class EpisodeLoader:
    """Iterable of :class:`TaskBatch`; ``len()`` is the number of batches."""

    def __init__(
        self,
        episodes: SeededEpisodes | MixtureEpisodes,
        sampler: EpisodeSampler,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        self.sampler = sampler
        self.loader = torch.utils.data.DataLoader(
            episodes,
            batch_size=sampler.tasks,
            shuffle=False,
            sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
            collate_fn=_stack_tasks,
        )

    def __len__(self) -> int:
        return self.sampler.num_batches

    def __iter__(self):
        # A generator: the loader's iterator (and, with workers, its processes) starts at the
        # first batch, not when something only asks for an iterator (tqdm.auto does, and
        # creating a loader iterator draws its base seed from torch's global generator).
        yield from self.loader
