"""Datasets: download (local mirror first, checksummed), prepare, and seeded episodes.

The public API::

    describe(name) -> DatasetInfo
    episode_loader(name, split, *, root, ways, shots, queries, meta_batch_size, num_batches,
                   seed, image_size=None, normalisation=None, num_workers=0, download=False)
    load_arrays(name, split, root=None) -> (uint8 images, int64 labels)
    prepare(name, root=None, *, trust_unverified=False, force=False) -> Path
    dataset_names() -> list[str]
    build_stream(stream_config, seed, root=None) -> Stream  (continual-learning tasks)

Each name is imported from its module on first use, so that a command importing one part of
the data layer (``data list``, the registry) does not pay for the others (torch, h5py).
torchvision and torchmeta are not imported by this package; code that imports them applies
:func:`wheretolearn.data.compat.apply` first (repairs for a CPU-only torch 2.13).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "DatasetInfo": "api",
    "describe": "api",
    "episode_loader": "api",
    "load_arrays": "api",
    "TaskBatch": "episodes",
    "prepare": "preparation",
    "problems": "preparation",
    "resolve_root": "preparation",
    "dataset_names": ("registry", "names"),
    "Stream": "streams",
    "Task": "streams",
    "build_stream": "streams",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    globals()[name] = value
    return value
