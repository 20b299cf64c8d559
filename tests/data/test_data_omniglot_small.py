"""omniglot-small end to end on the real shared data: prepare, episodes, seeds, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

from wheretolearn.data import describe, episode_loader, load_arrays, problems
from wheretolearn.data.registry import get, load_split_file
from wheretolearn.errors import DatasetError

KW = dict(ways=5, shots=1, queries=15, meta_batch_size=4, num_batches=3)


def batches(root, split="train", seed=0, name="omniglot-small", **kw):
    return list(episode_loader(name, split, root=root, seed=seed, **{**KW, **kw}))


def test_describe():
    info = describe("omniglot-small")
    assert (info.channels, info.image_size, info.normalisation) == (1, 28, "none")
    assert info.splits == {"train": 172, "val": 22, "test": 48}


def test_split_is_by_alphabet_and_disjoint(real_root):
    split = load_split_file(get("omniglot-small"))
    alphabets = [set(split[s]) for s in ("train", "val", "test")]
    assert not (alphabets[0] & alphabets[1] or alphabets[0] & alphabets[2])
    for s, n in describe("omniglot-small").splits.items():
        names = json.loads((real_root / "omniglot-small" / f"{s}_labels.json").read_text())
        assert len(set(names)) == n >= 20
        assert {name.split("/")[0] for name in names} == set(split[s])


def test_batch_shapes_labels_and_values(real_root):
    loader = episode_loader("omniglot-small", "test", root=real_root, seed=1, **KW)
    assert len(loader) == 3
    out = list(loader)
    assert len(out) == 3
    b = out[0]
    assert b.support_x.shape == (4, 5, 1, 28, 28) and b.support_x.dtype == torch.float32
    assert b.query_x.shape == (4, 75, 1, 28, 28)
    assert b.support_y.dtype == torch.int64 and b.query_y.dtype == torch.int64
    for t in range(4):
        assert sorted(b.support_y[t].tolist()) == list(range(5))
        assert torch.bincount(b.query_y[t], minlength=5).tolist() == [15] * 5
    assert b.query_x.min() >= 0.0 and b.query_x.max() <= 1.0
    assert b.query_x.mean() < 0.3  # ink is bright on a dark background


def test_support_and_query_examples_are_disjoint(real_root):
    b = batches(real_root, shots=5, queries=15, meta_batch_size=2)[0]
    for t in range(2):
        for c in range(5):
            s = b.support_x[t][b.support_y[t] == c].flatten(1)
            q = b.query_x[t][b.query_y[t] == c].flatten(1)
            assert torch.cdist(s, q).min() > 0


def test_same_seed_same_tasks_other_seed_other_tasks(real_root):
    first, again = batches(real_root, seed=7), batches(real_root, seed=7)
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)
    other = batches(real_root, seed=8)
    assert not torch.equal(first[0].support_x, other[0].support_x)
    assert not torch.equal(first[0].support_x, first[1].support_x)


def test_batch_i_does_not_depend_on_num_batches(real_root):
    short, long = batches(real_root, seed=3, num_batches=1), batches(real_root, seed=3)
    assert torch.equal(short[0].query_x, long[0].query_x)


def test_tasks_do_not_depend_on_pythonhashseed(real_root):
    code = (
        "import sys, torch, wheretolearn.data as d;"
        "b = next(iter(d.episode_loader('omniglot-small', 'train', root=sys.argv[1], ways=5,"
        " shots=1, queries=15, meta_batch_size=4, num_batches=1, seed=5)));"
        "print(float((b.support_x * torch.arange(784).view(1, 1, 1, 28, 28)).sum()),"
        " b.query_y.tolist())"
    )
    outs = set()
    for hashseed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        run = subprocess.run(
            [sys.executable, "-c", code, str(real_root)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outs.add(run.stdout)
    assert len(outs) == 1


def test_a_split_is_read_from_disk_once_per_process(real_root, monkeypatch):
    """What keeps batches cheap (tens of loaders per run: every epoch, every validation): the
    split's arrays are read once and shared, not re-read per loader."""
    from wheretolearn.data import api, store

    reads = []
    monkeypatch.setattr(api, "_cache", {})
    original = store.read_split
    monkeypatch.setattr(store, "read_split", lambda *a, **k: reads.append(a) or original(*a, **k))
    for seed in (0, 1, 2):
        list(episode_loader("omniglot-small", "val", root=real_root, seed=seed, **KW))
    assert len(reads) == 1


def test_rotation_variant_adds_classes_to_train_only(real_root):
    assert describe("omniglot-small-rot").splits["train"] == 4 * 172
    b = batches(real_root, name="omniglot-small-rot", seed=0)[0]
    assert b.support_x.shape == (4, 5, 1, 28, 28)
    loader = episode_loader("omniglot-small-rot", "test", root=real_root, seed=0, **KW)
    assert len(loader.loader.dataset.pool) == 48
    train = episode_loader("omniglot-small-rot", "train", root=real_root, seed=0, **KW)
    assert len(train.loader.dataset.pool) == 4 * 172


def test_resize_and_normalisation_options(real_root):
    b = batches(real_root, image_size=32, meta_batch_size=1)[0]
    assert b.support_x.shape == (1, 5, 1, 32, 32)
    with pytest.raises(DatasetError, match="channels"):
        batches(real_root, normalisation="imagenet")


def test_not_prepared_error_says_how(tmp_path):
    with pytest.raises(DatasetError) as err:
        batches(tmp_path)
    assert "omniglot-small" in str(err.value) and "data prepare" in str(err.value)


def test_modified_prepared_file_is_detected_and_refused(real_root, tmp_path):
    import shutil

    shutil.copytree(real_root / "omniglot-small", tmp_path / "omniglot-small")
    labels = tmp_path / "omniglot-small" / "test_labels.json"
    labels.write_text(labels.read_text().replace("character01", "character02", 1))
    assert problems("omniglot-small", tmp_path)
    with pytest.raises(DatasetError, match="modified"):
        batches(tmp_path, split="test")


def test_too_many_shots_is_a_clear_error(real_root):
    with pytest.raises(DatasetError, match="shots"):
        batches(real_root, shots=10, queries=15)


def test_load_arrays(real_root):
    x, y = load_arrays("omniglot-small", "val", real_root)
    assert x.shape == (22 * 20, 28, 28) and x.dtype.name == "uint8"
    assert y.tolist() == [k for k in range(22) for _ in range(20)]


def test_lazy_reading_gives_the_same_tasks(real_root, monkeypatch):
    from wheretolearn.data import api

    eager = batches(real_root, split="val", seed=2)
    monkeypatch.setattr(api, "_cache", {})
    monkeypatch.setenv(api.LAZY_ENV, "0")
    lazy = batches(real_root, split="val", seed=2)
    assert type(api._cache.popitem()[1][1][0]).__module__.startswith("h5py")
    for a, b in zip(eager, lazy, strict=True):
        assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_x, b.query_x)


def test_rotated_classes_are_rotations_of_the_originals(real_root):
    loader = episode_loader("omniglot-small-rot", "train", root=real_root, seed=0, **KW)
    classes = loader.loader.dataset.pool
    n = classes.num_classes
    base = classes.image(3, 0)
    for k in (1, 2, 3):
        rotated = classes.image(3 + k * n, 0)
        assert torch.equal(rotated, torch.rot90(base, k, dims=(1, 2)))


def test_labels_are_right_pixel_nearest_neighbour_beats_chance(real_root):
    """5-way 1-shot by nearest support image in pixel space: far above chance (20%)."""
    b = batches(real_root, split="test", seed=11, meta_batch_size=25, num_batches=1)[0]
    s, q = b.support_x.flatten(2), b.query_x.flatten(2)
    nearest = torch.cdist(q, s).argmin(-1)
    predicted = torch.gather(b.support_y, 1, nearest)
    assert (predicted == b.query_y).float().mean() > 0.35


def test_worker_processes_give_the_same_tasks(real_root):
    serial = batches(real_root, seed=4)
    parallel = batches(real_root, seed=4, num_workers=2)
    with warnings.catch_warnings():  # without an accelerator pinning is a no-op, and says so
        warnings.filterwarnings("ignore", "'pin_memory' argument", UserWarning)
        pinned = batches(real_root, seed=4, pin_memory=True)
    assert len(serial) == 3
    for a, b, c in zip(serial, parallel, pinned, strict=True):
        assert torch.equal(a.support_x, b.support_x) and torch.equal(a.query_y, b.query_y)
        assert torch.equal(a.support_x, c.support_x) and torch.equal(a.query_y, c.query_y)


def test_asking_for_an_iterator_draws_nothing_until_the_first_batch(real_root):
    """tqdm.auto asks its iterable for an iterator when it is built; a loader iterator draws its
    base seed from torch's global generator, which the stochastic rules (sparse-MAML+'s noise)
    draw from: nothing may be drawn before the first batch, or every noise sample shifts."""
    from tqdm.auto import tqdm

    loader = episode_loader("omniglot-small", "train", root=real_root, seed=0, **KW)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    iter(loader)
    tqdm(loader, disable=True)
    assert torch.equal(torch.rand(3), expected)
