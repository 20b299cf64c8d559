"""Prepared datasets on disk, in torchmeta's miniImageNet format, with an integrity manifest.

Layout under the data root, for a dataset whose files are prepared as ``<base>``::

    <root>/<base>/{split}_data.hdf5    group "datasets", one uint8 array [N, H, W, C] per class
    <root>/<base>/{split}_labels.json  the class names of the split, in order
    <root>/<base>/MANIFEST.json        size and md5 of each file above (written last)

This is the format ``torchmeta.datasets.MiniImagenet`` reads. A dataset counts as prepared only
if its manifest exists and every file still has the recorded size and md5; preparation writes
into a temporary folder that is renamed into place only when complete.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from wheretolearn.data.verify import md5_of
from wheretolearn.errors import DatasetError

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
FORMAT_VERSION = 1
_verified: dict[tuple[str, int, int], bool] = {}


def data_file(folder: Path, split: str) -> Path:
    return Path(folder) / f"{split}_data.hdf5"


def labels_file(folder: Path, split: str) -> Path:
    return Path(folder) / f"{split}_labels.json"


def write_split(folder: Path, split: str, classes: Iterable[tuple[str, np.ndarray]]) -> int:
    """Write one split: ``classes`` yields (class name, uint8 array [N, H, W, C]). Returns count."""
    names = []
    with h5py.File(data_file(folder, split), "w") as f:
        group = f.create_group("datasets")
        for name, images in classes:
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(f"class {name}: expected uint8 [N,H,W,C], got {images.shape}")
            group.create_dataset(name, data=images)
            names.append(name)
    labels_file(folder, split).write_text(json.dumps(names))
    return len(names)


def write_manifest(folder: Path, dataset: str, info: dict) -> None:
    """Record size and md5 of every prepared file; the manifest marks the folder complete."""
    files = {}
    for path in sorted(Path(folder).iterdir()):
        if path.name != MANIFEST and path.is_file():
            files[path.name] = {"size": path.stat().st_size, "md5": md5_of(path)}
    body = {"dataset": dataset, "format_version": FORMAT_VERSION, **info, "files": files}
    (Path(folder) / MANIFEST).write_text(json.dumps(body, indent=1))


def read_manifest(folder: Path) -> dict | None:
    path = Path(folder) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def _file_ok(path: Path, record: dict) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _verified:
        _verified[key] = stat.st_size == record["size"] and md5_of(path) == record["md5"]
    return _verified[key]


def problems(folder: Path) -> list[str]:
    """What is wrong with a prepared folder: [] if complete and unmodified."""
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{Path(folder) / MANIFEST} is missing (not prepared, or preparation interrupted)"]
    if manifest.get("format_version") != FORMAT_VERSION:
        return [f"{folder} was prepared in format {manifest.get('format_version')}"]
    return [
        f"{Path(folder) / name} is missing or was modified (size/md5 differ from the manifest)"
        for name, record in manifest["files"].items()
        if not _file_ok(Path(folder) / name, record)
    ]


def begin(root: Path, base: str) -> Path:
    """A fresh temporary folder to prepare ``base`` into. The caller holds the dataset's lock
    (:func:`locked`), so every other temporary folder of ``base`` was left by a killed
    preparation: they are removed."""
    for stale in Path(root).glob(f".{base}.preparing-*"):
        log.info("removing %s, left by an interrupted preparation", stale)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(root) / f".{base}.preparing-{os.getpid()}"
    tmp.mkdir(parents=True)
    return tmp


@contextmanager
def locked(root: Path, base: str):
    """Hold the preparation lock of ``base`` under ``root`` (waits for another process that
    prepares it; a kernel lock, released however that process ends)."""
    root = writable_root(root)
    with open(root / f".{base}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def writable_root(root: Path) -> Path:
    """``root``, created if needed; a DatasetError saying so if it cannot be written."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DatasetError(
            f"data root {root} cannot be created ({err}); choose another "
            "with --data-root / data_root= or $WHERETOLEARN_DATA"
        ) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise DatasetError(
            f"data root {root} is not writable; prepared datasets are written there: choose "
            "another with --data-root / data_root= or $WHERETOLEARN_DATA, or make it writable"
        )
    return root


def commit(tmp: Path, root: Path, base: str) -> Path:
    """Move a completed temporary folder into place, replacing an old or damaged one."""
    final = Path(root) / base
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def read_split(folder: Path, split: str, *, lazy: bool = False):
    """Class names and per-class uint8 arrays [N, H, W, C] of a prepared split.

    With ``lazy`` the arrays are h5py datasets of a file kept open (read on indexing), for
    splits too large for memory (tieredImageNet); otherwise they are loaded into memory.
    """
    path = data_file(folder, split)
    if not path.is_file():
        raise DatasetError(f"{path} does not exist: the dataset has no split {split!r}")
    names = json.loads(labels_file(folder, split).read_text())
    if lazy:
        group = h5py.File(path, "r")["datasets"]
        return names, [group[name] for name in names]
    with h5py.File(path, "r") as f:
        arrays = [f["datasets"][name][()] for name in names]
    return names, arrays
