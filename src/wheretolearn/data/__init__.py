"""Datasets: download (local mirror first, checksummed), prepare, and seeded episodes.

The public API::

    describe(name) -> DatasetInfo
    episode_loader(name, split, *, root, ways, shots, queries, meta_batch_size, num_batches,
                   seed, image_size=None, normalisation=None, num_workers=0, download=False)
    load_arrays(name, split, root=None) -> (uint8 images, int64 labels)
    prepare(name, root=None, *, trust_unverified=False, force=False) -> Path
    dataset_names() -> list[str]
    build_stream(stream_config, seed, root=None) -> Stream  (continual-learning tasks)

``compat`` is applied first: it repairs torchvision/torchmeta on a CPU-only torch 2.13.
"""

from wheretolearn.data import compat

compat.apply()

from wheretolearn.data.api import DatasetInfo, describe, episode_loader, load_arrays  # noqa: E402
from wheretolearn.data.episodes import TaskBatch  # noqa: E402
from wheretolearn.data.prepare import prepare, problems, resolve_root  # noqa: E402
from wheretolearn.data.registry import names as dataset_names  # noqa: E402
from wheretolearn.data.streams import Stream, Task, build_stream  # noqa: E402

__all__ = [
    "DatasetInfo",
    "Stream",
    "Task",
    "TaskBatch",
    "build_stream",
    "dataset_names",
    "describe",
    "episode_loader",
    "load_arrays",
    "prepare",
    "problems",
    "resolve_root",
]
