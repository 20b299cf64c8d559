"""The registry adapter: pools joined into a mode, disjoint or shared labels."""

from __future__ import annotations

import pytest
import torch

from wheretolearn.data import online
from wheretolearn.data.pools import Pool
from wheretolearn.errors import DatasetError


def fake_pool(name, split, root):
    classes = {"train": 3, "test": 2}[split]
    labels = torch.arange(classes).repeat_interleave(2)
    images = torch.full((len(labels), 1, 28, 28), classes, dtype=torch.uint8)
    return Pool(name, split, images, labels)


def test_disjoint_splits_become_distinct_classes_and_shared_ones_do_not(monkeypatch):
    monkeypatch.setattr(online, "load_pool", fake_pool)
    sources = [("omniglot", "train"), ("omniglot", "test")]
    disjoint = online.load_mode("omniglot", sources, weight=0.5, labels="disjoint")
    assert torch.unique(disjoint.labels).tolist() == [0, 1, 2, 3, 4]
    assert disjoint.images.shape == (10, 1, 28, 28) and disjoint.weight == 0.5
    shared = online.load_mode("mnist", sources, weight=0.25, labels="shared", scale=255.0)
    assert torch.unique(shared.labels).tolist() == [0, 1, 2] and shared.scale == 255.0
    with pytest.raises(DatasetError, match="no \\(dataset, split\\) source"):
        online.load_mode("mnist", [], weight=0.25, labels="shared")
