"""The online stream's modes from the project's datasets (the registry adapter).

A mode joins one or more ``(dataset, split)`` pools (:func:`wheretolearn.data.pools.load_pool`:
uint8 ``[N, 1, 28, 28]``). Their labels are either *disjoint* (each split numbers its own
classes from 0, as Omniglot's class splits do: they are offset so that every character stays a
class of its own) or *shared* (the splits label the same classes, as MNIST's digits in two
splits). The protocol's modes and the offline ones:

* Omniglot: every character (the authors' stream draws from all 1623: ``omniglot`` train, val
  and test, disjoint); offline, the 242 characters of ``omniglot-small`` (train, val, test).
* MNIST: the official training set (``mnist``/train); offline, the 15,000 real digits of
  ``mnist-test``/test and ``mnist-digits``/train, shared labels.
* Fashion-MNIST: ``fashion-mnist``/train (offline too).

The authors cut every MNIST/Fashion class to the smallest class's count; with images drawn
uniformly within a class that changes nothing in distribution, so all images are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from wheretolearn.algorithms.online.stream import Mode
from wheretolearn.data.pools import load_pool
from wheretolearn.errors import DatasetError


def load_mode(
    name: str,
    sources: Sequence[tuple[str, str]],
    *,
    weight: float,
    labels: Literal["disjoint", "shared"],
    root=None,
    scale: float = 1.0,
) -> Mode:
    """The mode ``name`` from the pools ``sources`` (``(dataset, split)`` pairs)."""
    if not sources:
        raise DatasetError(f"online mode {name}: no (dataset, split) source given")
    pools = [load_pool(dataset, split, root) for dataset, split in sources]
    shapes = {tuple(p.images.shape[1:]) for p in pools}
    if len(shapes) > 1:
        raise DatasetError(f"online mode {name}: its sources have image shapes {shapes}")
    parts, offset = [], 0
    for pool in pools:
        parts.append(pool.labels + (offset if labels == "disjoint" else 0))
        offset += int(pool.labels.max()) + 1
    images = torch.cat([p.images for p in pools])
    return Mode(name, images, torch.cat(parts), weight, scale)
