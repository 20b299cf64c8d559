"""GEMS' mixture task source: each task from one of several real datasets, drawn by weight."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wheretolearn.data.api import episode_loader, mixture_loader
from wheretolearn.data.config import DataConfig
from wheretolearn.data.episodes import MixtureSampler
from wheretolearn.errors import ConfigError, DatasetError

PARTS = ["omniglot-small", "mnist-items", "fashion-mnist-items"]
TASK = {"ways": 5, "shots": 1, "queries": 2}


@pytest.fixture(scope="module")
def root(prepared_data):
    return prepared_data(*PARTS)


def loader(root, seed=3, batches=6, probabilities=(0.5, 0.25, 0.25)):
    return mixture_loader(PARTS, list(probabilities), "train", root=root, meta_batch_size=4,
                          num_batches=batches, seed=seed, **TASK)  # fmt: skip


def test_every_task_is_its_dataset_own_task(root):
    """Task j of a mixture batch is exactly the task its dataset's own episodes give for the
    drawn classes and task seed: images from that dataset alone, labels 0..ways-1."""
    mixed = loader(root)
    batches = list(mixed)
    assert len(batches) == 6 and batches[0].support_x.shape == (4, 5, 1, 28, 28)
    seen = set()
    for i, batch in enumerate(batches):
        for j, (part, classes, task_seed) in enumerate(mixed.sampler.batch_keys(i)):
            seen.add(part)
            alone = episode_loader(PARTS[part], "train", root=root, meta_batch_size=1,
                                   num_batches=1, seed=0, **TASK)  # fmt: skip
            support_x, support_y, query_x, query_y = alone.loader.dataset[(classes, task_seed)]
            assert torch.equal(batch.support_x[j], support_x)
            assert torch.equal(batch.query_y[j], query_y)
            assert sorted(batch.support_y[j].tolist()) == list(range(5))
    assert seen == {0, 1, 2}  # 24 tasks: every dataset gave some


def test_batches_are_a_pure_function_of_the_seed(root):
    first, again, other = list(loader(root)), list(loader(root)), list(loader(root, seed=4))
    assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a.query_x, b.query_x) for a, b in zip(first, other, strict=True))


def test_datasets_are_drawn_with_their_weights():
    """3:1 weights over 4,000 tasks: the share of the first within 4 standard errors of 3/4;
    a weight of zero's share is refused by the config (weights are positive)."""
    sampler = MixtureSampler([20, 10], [0.75, 0.25], ways=5, tasks=40, num_batches=100, seed=1)
    parts = np.array([key[0] for i in range(100) for key in sampler.batch_keys(i)])
    share, error = parts.mean(), np.sqrt(0.75 * 0.25 / parts.size)
    assert abs((1 - share) - 0.75) < 4 * error
    classes = [key[1] for i in range(100) for key in sampler.batch_keys(i) if key[0] == 1]
    assert max(max(c) for c in classes) == 9  # part 1's tasks draw from its own 10 classes


def test_a_mixture_is_refused_where_it_cannot_work():
    with pytest.raises(ConfigError, match="2 weights for the 3 datasets"):
        DataConfig(dataset="+".join(PARTS), weights=[1.0, 2.0], **TASK)
    with pytest.raises(ConfigError, match="names each dataset once"):
        DataConfig(dataset="mnist-items+mnist-items", **TASK)
    assert DataConfig(dataset="a+b", weights=[3.0, 1.0], **TASK).probabilities() == [0.75, 0.25]
    with pytest.raises(DatasetError, match="share channels and image size"):
        mixture_loader(["omniglot-small", "cub"], [0.5, 0.5], "train", root=None,
                       meta_batch_size=1, num_batches=1, seed=0, **TASK)  # fmt: skip


def test_the_item_distributions_hold_out_half_of_each_test_class(root):
    """mnist-items and fashion-mnist-items: train from the official training images, val and
    test the two halves of each class of the official test set, in order."""
    from wheretolearn.data import load_arrays

    for name, train_size in (("mnist-items", 5000), ("fashion-mnist-items", 60000)):
        sizes = {s: load_arrays(name, s, root)[1] for s in ("train", "val", "test")}
        assert sizes["train"].size == train_size
        assert sizes["val"].size + sizes["test"].size == 10000
        for c in range(10):
            val, test = (sizes["val"] == c).sum(), (sizes["test"] == c).sum()
            assert val == (val + test) // 2 and val > 400, (name, c)
