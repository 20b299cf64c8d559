"""Image helpers shared by the preparers: archive extraction, decode, crop, resize."""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image


@contextmanager
def extracted(archive: Path, out: Path) -> Iterator[Path]:
    """Extract a tar archive under ``out/_extract`` for the duration of the block."""
    target = Path(out) / "_extract"
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
        yield target
    finally:
        shutil.rmtree(target, ignore_errors=True)


def to_array(image: Image.Image, size: int, box=None) -> np.ndarray:
    """RGB uint8 [size, size, 3] from a PIL image, cropped to ``box`` (x1, y1, x2, y2) first."""
    image = image.convert("RGB")
    if box is not None:
        image = image.crop(tuple(int(v) for v in box))
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def load(path_or_bytes, size: int, box=None) -> np.ndarray:
    """Decode a file path or encoded bytes to RGB uint8 [size, size, 3]."""
    if isinstance(path_or_bytes, bytes | bytearray | np.ndarray):
        path_or_bytes = io.BytesIO(bytes(path_or_bytes))
    with Image.open(path_or_bytes) as image:
        return to_array(image, size, box)


def stack(paths, size: int) -> np.ndarray:
    """Decode and stack a list of image files (sorted by the caller)."""
    return np.stack([load(p, size) for p in paths])
