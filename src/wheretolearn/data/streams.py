"""Continual-learning streams: MNIST rotations/permutations and split-class benchmarks.

The protocol is GEM's (Lopez-Paz & Ranzato, 2017), which La-MAML and the paper reuse:

* **rotations** -- task ``t`` rotates every image, training and test, by one angle drawn
  uniformly from the ``t``-th of ``tasks`` equal bins of [0, 180) degrees. Rotation is
  counter-clockwise about the image centre (PIL's ``Image.rotate`` convention, which GEM used),
  bilinear, with zero fill, clamped to [0, 1]. GEM rotated with PIL's default nearest-neighbour
  resampling; bilinear is the one deliberate difference.
* **permutations** -- task ``t`` applies one fixed random permutation of the H*W pixel positions
  (the same for every channel) to training and test images. Task 0 is permuted too, as in GEM.
* **split-classes** -- class-incremental: task ``t`` holds the classes
  ``t*k .. (t+1)*k - 1`` (natural class order, ``k = classes_per_task``), labels keep their
  original ids (one shared head of ``num_classes`` outputs).

Each task draws ``per_task`` training examples uniformly without replacement from the training
pool (for split-classes: from the examples of its classes), independently per task, in a
shuffled order; ``None`` takes all of them (shuffled). Its test set is the whole test pool
transformed by the task (split-classes: the test examples of its classes), or with
``test_per_task`` a fixed random subset of it drawn once per task.

All randomness (angles, permutations, which examples, their order) comes from
``StreamConfig.seed`` -- GEM draws its data once, fixed across runs -- or, if that is ``None``,
from the run seed; every (purpose, task) pair gets its own generator seeded with
``derive_seed("stream", seed, benchmark, purpose, task)``, so the same inputs give identical
tensors and no global RNG state is read or changed.

Pixels are float32 ``x / 255`` in [0, 1], not normalised (La-MAML's MNIST); ``flatten`` gives
``[N, C*H*W]`` vectors, else ``[N, C, H, W]``. Training tensors are materialised per task, test
sets built on demand by :meth:`Task.test`. The pools: :mod:`wheretolearn.data.pools`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from wheretolearn.data.config import StreamConfig
from wheretolearn.data.pools import (
    MAX_ANGLE,
    PIXELS,
    ROTATION,
    Pool,
    load_pools,
    permutation_checksum,
    transform,
)
from wheretolearn.errors import ConfigError, DatasetError
from wheretolearn.seeding import derive_seed


@dataclass(eq=False)
class Task:
    """One task of a stream: materialised training data and an on-demand test set.

    Attributes
    ----------
    index : int
        Position in the stream, from 0.
    train_x, train_y : torch.Tensor
        float32 inputs (``[n, C*H*W]`` or ``[n, C, H, W]``) and int64 labels, in the order the
        stream presents them.
    classes : tuple of int
        The classes the task contains (all classes unless split-classes).
    angle : float or None
        The rotation in degrees (rotations only).
    permutation : torch.Tensor or None
        int64 ``[H*W]``: output pixel ``i`` is input pixel ``permutation[i]`` (permutations only).
    """

    index: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    classes: tuple[int, ...]
    angle: float | None
    permutation: torch.Tensor | None
    flatten: bool
    test_pool: Pool = field(repr=False)
    test_index: torch.Tensor | None = field(repr=False)  # None: the whole test pool

    @property
    def test_size(self) -> int:
        """Number of test examples :meth:`test` returns."""
        return len(self.test_pool.labels if self.test_index is None else self.test_index)

    def test(self, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The task's test set, transformed like its training data, built on each call.

        Parameters
        ----------
        device : torch.device or str, optional
            Where to build it (the rotation runs there); default: the CPU.

        Returns
        -------
        x : torch.Tensor
            float32 in [0, 1], shaped like ``train_x``; a fresh tensor the caller may modify.
        y : torch.Tensor
            int64 labels.
        """
        x = self.test_pool.floats(self.test_index, device)
        perm = None if self.permutation is None else self.permutation.to(x.device)
        x = transform(x, self.angle, perm, self.flatten)
        labels = self.test_pool.labels
        y = labels.clone() if self.test_index is None else labels[self.test_index]
        return x, y.to(x.device)


@dataclass(eq=False)
class Stream:
    """A sequence of continual-learning tasks built by :func:`build_stream`.

    Attributes
    ----------
    tasks : list of Task
    num_classes : int
        Outputs of the (single) head: the largest label of either pool plus one.
    input_shape : tuple of int
        ``(C*H*W,)`` if flattened, else ``(C, H, W)``.
    """

    tasks: list[Task]
    num_classes: int
    input_shape: tuple[int, ...]
    config: StreamConfig
    stream_seed: int
    train_pool: dict[str, Any]
    test_pool: dict[str, Any]

    def __len__(self) -> int:
        return len(self.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def train_checksum(self) -> str:
        """First 16 hex digits of the sha256 of every task's training inputs and labels, in
        stream order: two runs with the same checksum saw exactly the same examples."""
        digest = hashlib.sha256()
        for task in self.tasks:
            digest.update(task.train_x.numpy().astype("<f4").tobytes())
            digest.update(task.train_y.numpy().astype("<i8").tobytes())
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """What trained and what tested, JSON-serialisable, for a run's results file."""
        cfg = self.config
        info: dict[str, Any] = {
            "benchmark": cfg.benchmark,
            "train_pool": self.train_pool,
            "test_pool": self.test_pool,
            "same_pool": _same_pool(self.train_pool, self.test_pool),
            "tasks": len(self.tasks),
            "per_task": cfg.per_task,
            "train_sizes": [len(t.train_y) for t in self.tasks],
            "train_sha256": self.train_checksum(),
            "test_per_task": cfg.test_per_task,
            "test_sizes": [t.test_size for t in self.tasks],
            "stream_seed": self.stream_seed,
            "seed_source": "stream.seed" if cfg.seed is not None else "run seed",
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "flatten": cfg.flatten,
            "pixels": PIXELS,
        }
        info.update(_benchmark_details(self))
        return info


def _same_pool(train: dict[str, Any], test: dict[str, Any]) -> bool:
    return (train["dataset"], train["split"]) == (test["dataset"], test["split"])


def _benchmark_details(stream: Stream) -> dict[str, Any]:
    tasks = stream.tasks
    if stream.config.benchmark == "rotations":
        return {"angles": [t.angle for t in tasks], "rotation": ROTATION}
    if stream.config.benchmark == "permutations":
        return {"permutation_sha256": [permutation_checksum(t.permutation) for t in tasks]}
    return {
        "classes_per_task": stream.config.classes_per_task,
        "task_classes": [list(t.classes) for t in tasks],
    }


def _rng(seed: int, benchmark: str, purpose: str, task: int) -> np.random.Generator:
    return np.random.default_rng(derive_seed("stream", seed, benchmark, purpose, task))


def _check_classes(cfg: StreamConfig, num_classes: int, train: Pool) -> None:
    if cfg.benchmark != "split-classes":
        return
    needed = cfg.tasks * cfg.classes_per_task
    if needed > num_classes:
        raise ConfigError(
            f"stream: split-classes needs tasks * classes_per_task = {cfg.tasks} * "
            f"{cfg.classes_per_task} = {needed} classes but {train.name}/{train.split} has "
            f"{num_classes}; lower stream.tasks or stream.classes_per_task"
        )


def _draw(
    pool: Pool,
    classes: tuple[int, ...] | None,
    count: int | None,
    rng: np.random.Generator,
    *,
    key: str,
    task: int,
) -> np.ndarray:
    """``count`` distinct indices of ``pool`` examples of ``classes``, in a random order."""
    candidates = pool.of_classes(classes)
    which = "" if classes is None else f" (classes {list(classes)})"
    if len(candidates) == 0:
        raise DatasetError(f"{pool.name}/{pool.split} has no examples for task {task}{which}")
    if count is not None and count > len(candidates):
        raise ConfigError(
            f"stream.{key}={count} is larger than the {len(candidates)} examples of "
            f"{pool.name}/{pool.split} for task {task}{which}; lower stream.{key} or set it "
            "to null for all of them"
        )
    return rng.permutation(candidates)[:count]


def _tasktransform(
    cfg: StreamConfig, seed: int, t: int, pixels: int
) -> tuple[float | None, torch.Tensor | None]:
    """The angle or pixel permutation of task ``t``."""
    if cfg.benchmark == "rotations":
        width = MAX_ANGLE / cfg.tasks
        u = float(_rng(seed, cfg.benchmark, "angle", t).random())
        below = float(np.nextafter((t + 1) * width, 0.0))  # keep the bin half-open
        return min((t + u) * width, below), None
    if cfg.benchmark == "permutations":
        perm = _rng(seed, cfg.benchmark, "permutation", t).permutation(pixels)
        return None, torch.from_numpy(perm.astype(np.int64))
    return None, None


def _make_task(
    cfg: StreamConfig, seed: int, t: int, pools: tuple[Pool, Pool], num_classes: int
) -> Task:
    train, test = pools
    split = cfg.benchmark == "split-classes"
    k = cfg.classes_per_task
    classes = tuple(range(t * k, (t + 1) * k)) if split else tuple(range(num_classes))
    pick = classes if split else None
    angle, perm = _tasktransform(cfg, seed, t, train.images.shape[2] * train.images.shape[3])
    rng = _rng(seed, cfg.benchmark, "train", t)
    index = torch.from_numpy(_draw(train, pick, cfg.per_task, rng, key="per_task", task=t))
    train_x = transform(train.floats(index), angle, perm, cfg.flatten)
    test_index = None
    if split or cfg.test_per_task is not None:
        rng = _rng(seed, cfg.benchmark, "test", t)
        drawn = _draw(test, pick, cfg.test_per_task, rng, key="test_per_task", task=t)
        test_index = torch.from_numpy(np.sort(drawn))
    return Task(
        t, train_x, train.labels[index], classes, angle, perm, cfg.flatten, test, test_index
    )


def build_stream(cfg: StreamConfig, seed: int, root: str | None = None) -> Stream:
    """Build the tasks of a continual-learning benchmark from prepared image pools.

    Parameters
    ----------
    cfg : StreamConfig
        The benchmark, its pools and sizes (see the module docstring for the protocol).
    seed : int
        The run seed; used only if ``cfg.seed`` is ``None``.
    root : str, optional
        The data root (default ``$WHERETOLEARN_DATA`` or ``./data``).

    Returns
    -------
    Stream
        ``cfg.tasks`` tasks; identical tensors for identical inputs.

    Raises
    ------
    ConfigError
        Non-positive sizes, ``per_task``/``test_per_task`` larger than a task's pool, or
        ``tasks * classes_per_task`` more than the classes of the training pool.
    DatasetError
        A pool that is not prepared, pools with different image shapes, or a task with no
        examples of its classes.
    """
    train, test = load_pools(cfg, root)
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    _check_classes(cfg, num_classes, train)
    stream_seed = cfg.seed if cfg.seed is not None else seed
    tasks = [_make_task(cfg, stream_seed, t, (train, test), num_classes) for t in range(cfg.tasks)]
    c, h, w = train.images.shape[1:]
    shape = (c * h * w,) if cfg.flatten else (c, h, w)
    return Stream(tasks, num_classes, shape, cfg, stream_seed, train.describe(), test.describe())
