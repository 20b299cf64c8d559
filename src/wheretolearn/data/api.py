"""The public data API: dataset descriptions, seeded episode loaders, plain arrays."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from wheretolearn.data import registry, store
from wheretolearn.data.config import MIXTURE
from wheretolearn.data.episodes import (
    ClassPool,
    EpisodeLoader,
    EpisodeSampler,
    MixtureEpisodes,
    MixtureSampler,
    SeededEpisodes,
    ToFloatTensor,
)
from wheretolearn.data.preparation import require_prepared
from wheretolearn.errors import DatasetError

_cache: dict[tuple, tuple[list[str], list[np.ndarray]]] = {}
# Splits whose prepared file is larger than this are read lazily from disk, not into memory.
LAZY_ENV = "WHERETOLEARN_LAZY_BYTES"
LAZY_BYTES_DEFAULT = 4 << 30


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset before seeing it."""

    name: str
    channels: int
    image_size: int  # default side length after preparation
    splits: dict[str, int]  # number of classes per split
    normalisation: str  # the default normalisation name ("none", "imagenet")


def describe(name: str) -> DatasetInfo:
    """Channels, default image size, classes per split and default normalisation of ``name``."""
    spec = registry.get(name)
    return DatasetInfo(
        spec.name, spec.channels, spec.image_size, dict(spec.splits), spec.normalisation
    )


def _split_arrays(name: str, split: str, root, download: bool):
    spec = registry.get(name)
    if split not in spec.splits:
        raise DatasetError(f"dataset {name!r} has no split {split!r}; splits: {list(spec.splits)}")
    folder = require_prepared(name, root, download=download)
    data = store.data_file(folder, split)
    stat = data.stat()
    key = (str(data), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        lazy = stat.st_size > int(os.environ.get(LAZY_ENV, LAZY_BYTES_DEFAULT))
        _cache[key] = store.read_split(folder, split, lazy=lazy)
    return _cache[key]


def _transform(spec: registry.DatasetSpec, image_size, normalisation) -> ToFloatTensor:
    stats = registry.normalisation_stats(normalisation or spec.normalisation)
    mean, std = (stats["mean"], stats["std"]) if stats else (None, None)
    if stats and len(mean) != spec.channels:
        raise DatasetError(
            f"normalisation {normalisation!r} has {len(mean)} channels, "
            f"dataset {spec.name!r} has {spec.channels}"
        )
    return ToFloatTensor(size=image_size or spec.image_size, mean=mean, std=std)


def _check_task_size(name, split, classes, arrays, ways: int, examples: int) -> None:
    if ways > len(classes):
        raise DatasetError(f"{name} {split} has {len(classes)} classes, fewer than ways={ways}")
    smallest = min(len(a) for a in arrays)
    if examples > smallest:
        raise DatasetError(
            f"{name} {split}: a class has only {smallest} examples, fewer than "
            f"shots + queries = {examples}"
        )


def episode_loader(
    name: str,
    split: str,
    *,
    root: str | os.PathLike | None,
    ways: int,
    shots: int,
    queries: int,
    meta_batch_size: int,
    num_batches: int,
    seed: int,
    image_size: int | None = None,
    normalisation: str | None = None,
    num_workers: int = 0,
    download: bool = False,
    pin_memory: bool = False,
) -> EpisodeLoader:
    """Seeded few-shot task batches of a prepared dataset; ``len()`` is ``num_batches``.

    Batch i is a pure function of (name, split, ways, shots, queries, meta_batch_size, seed, i,
    image_size, normalisation), independent of iteration order, process and PYTHONHASHSEED.
    Labels are 0..ways-1, classes assigned in a seeded random order; support and query examples
    of a class are disjoint. ``normalisation=None`` uses the registry's default; ``"none"`` gives
    pixels in [0, 1]. Raises DatasetError if the dataset is not prepared under ``root`` (unless
    ``download``, which prepares it first: mirror, then network).
    """
    if MIXTURE in name:
        raise DatasetError(f"{name!r} is a mixture: use mixture_loader")
    episodes = _episodes(name, split, root, download, ways, shots, queries, image_size,
                         normalisation)  # fmt: skip
    sampler = EpisodeSampler(len(episodes.pool), ways, meta_batch_size, num_batches, seed)
    return EpisodeLoader(episodes, sampler, num_workers, pin_memory)


def _episodes(name, split, root, download, ways, shots, queries, image_size, normalisation):
    spec = registry.get(name)
    names, arrays = _split_arrays(name, split, root, download)
    rotations = spec.rotations if split in spec.rotate_splits else ()
    classes = ClassPool(arrays, names, _transform(spec, image_size, normalisation), rotations)
    _check_task_size(name, split, classes, arrays, ways, shots + queries)
    return SeededEpisodes(classes, ways, shots, queries)


def mixture_loader(
    names: list[str],
    probabilities: list[float],
    split: str,
    *,
    root: str | os.PathLike | None,
    ways: int,
    shots: int,
    queries: int,
    meta_batch_size: int,
    num_batches: int,
    seed: int,
    image_size: int | None = None,
    normalisation: str | None = None,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> EpisodeLoader:
    """Seeded task batches of a mixture (GEMS): each task from one of ``names``, drawn with
    ``probabilities``, its classes and examples as that dataset's own loader draws them
    (``normalisation`` None: each dataset's default). Batch i is a pure function of the
    arguments and i. The datasets must share channels and image size (``image_size`` resizes
    them all)."""
    infos = {n: describe(n) for n in names}
    shapes = {n: (i.channels, image_size or i.image_size) for n, i in infos.items()}
    if len(set(shapes.values())) > 1:
        raise DatasetError(
            f"a mixture's datasets must share channels and image size; got {shapes}: set "
            "data.image_size, and mix datasets of one kind (grey or colour)"
        )
    parts = [
        _episodes(n, split, root, False, ways, shots, queries, image_size, normalisation)
        for n in names
    ]
    classes = [len(p.pool) for p in parts]
    sampler = MixtureSampler(classes, probabilities, ways, meta_batch_size, num_batches, seed)
    return EpisodeLoader(MixtureEpisodes(parts), sampler, num_workers, pin_memory)


def load_arrays(
    name: str, split: str, root: str | os.PathLike | None = None, *, download: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """All images of a split as (uint8 [N, H, W] or [N, H, W, C], int64 labels [N]).

    Labels are the class positions in the split's label file (for MNIST-style data, the
    digit/class id itself). Images are grouped by class, in the order prepared.
    """
    names, arrays = _split_arrays(name, split, root, download)
    images = np.concatenate([np.asarray(a) for a in arrays])
    labels = np.concatenate([np.full(len(a), k, dtype=np.int64) for k, a in enumerate(arrays)])
    if images.shape[-1] == 1:
        images = images[..., 0]
    return images, labels
