"""Continual-learning streams: seeding, transforms, per-task draws and errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from wheretolearn.data import build_stream, problems
from wheretolearn.data import pools as pools_module
from wheretolearn.data.config import StreamConfig
from wheretolearn.data.pools import transform as _transform
from wheretolearn.errors import ConfigError, DatasetError
from wheretolearn.validate import from_dict

REPO = Path(__file__).resolve().parents[2]
SIDE = 28
CENTRE = (SIDE - 1) / 2


def _ids_pool(n: int, classes: int, seed: int = 0, channels: int = 0):
    """Random images whose pixel (0, 0) and (0, 1) encode the example's index; labels i % C."""
    rng = np.random.default_rng(seed)
    shape = (n, SIDE, SIDE) if channels == 0 else (n, SIDE, SIDE, channels)
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    ids = np.arange(n).reshape(n, *[1] * (x.ndim - 3))  # every channel carries the id
    x[:, 0, 0] = ids % 256
    x[:, 0, 1] = ids // 256
    return x, np.arange(n, dtype=np.int64) % classes


def _dot_pool(n: int = 20, row: int = 3, col: int = 14):
    """Black images with one white pixel at (row, col)."""
    x = np.zeros((n, SIDE, SIDE), dtype=np.uint8)
    x[:, row, col] = 255
    return x, np.arange(n, dtype=np.int64) % 10


@pytest.fixture
def pools(monkeypatch):
    """Replace load_arrays in the pools module by a dict of synthetic (name, split) pools."""
    table = {
        ("syn", "train"): _ids_pool(400, 10, seed=1),
        ("syn", "test"): _ids_pool(300, 10, seed=2),
        ("dots", "train"): _dot_pool(),
        ("rgb", "train"): _ids_pool(60, 10, seed=3, channels=3),
        ("rgb", "test"): _ids_pool(40, 10, seed=4, channels=3),
    }

    def fake_load_arrays(name, split, root=None):
        if (name, split) not in table:
            raise DatasetError(f"dataset {name!r} split {split!r} is not prepared (fake)")
        return table[name, split]

    monkeypatch.setattr(pools_module, "load_arrays", fake_load_arrays)
    return table


def _cfg(**kw) -> StreamConfig:
    base = {"benchmark": "rotations", "dataset": "syn", "tasks": 4, "per_task": 50}
    return StreamConfig(**{**base, **kw})


def _ids(x: torch.Tensor) -> list[int]:
    """Example indices encoded by _ids_pool in untransformed images (flattened or not)."""
    flat = (x.reshape(len(x), -1) * 255).round().long()
    return (flat[:, 0] + 256 * flat[:, 1]).tolist()


def _assert_streams_equal(a, b):
    assert a.describe() == b.describe()
    for ta, tb in zip(a.tasks, b.tasks, strict=True):
        assert torch.equal(ta.train_x, tb.train_x) and torch.equal(ta.train_y, tb.train_y)
        (xa, ya), (xb, yb) = ta.test(), tb.test()
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.parametrize("benchmark", ["rotations", "permutations", "split-classes"])
def test_same_inputs_give_identical_tensors(pools, benchmark):
    cfg = _cfg(benchmark=benchmark, classes_per_task=2, test_per_task=20)
    _assert_streams_equal(build_stream(cfg, 7), build_stream(cfg, 7))


def test_stream_seed_fixes_the_data_across_run_seeds(pools):
    fixed = _cfg(benchmark="rotations", seed=3)
    _assert_streams_equal(build_stream(fixed, 1), build_stream(fixed, 2))
    other = build_stream(replace(fixed, seed=4), 1)
    assert [t.angle for t in other.tasks] != [t.angle for t in build_stream(fixed, 1).tasks]


@pytest.mark.parametrize("benchmark", ["rotations", "permutations"])
def test_without_stream_seed_the_run_seed_decides(pools, benchmark):
    cfg = _cfg(benchmark=benchmark, seed=None)
    a, b, a2 = build_stream(cfg, 1), build_stream(cfg, 2), build_stream(cfg, 1)
    key = "angles" if benchmark == "rotations" else "permutation_sha256"
    assert a.describe()[key] == a2.describe()[key]
    assert a.describe()[key] != b.describe()[key]
    assert a.describe()["seed_source"] == "run seed" and a.stream_seed == 1
    assert not torch.equal(a.tasks[0].train_x, b.tasks[0].train_x)


def test_angles_fall_in_their_bins(pools):
    tasks = 7
    width = 180 / tasks
    for seed in range(5):
        stream = build_stream(_cfg(benchmark="rotations", tasks=tasks, per_task=5, seed=seed), 0)
        angles = stream.describe()["angles"]
        assert len(angles) == tasks
        for t, angle in enumerate(angles):
            assert t * width <= angle < (t + 1) * width
    assert stream.describe()["rotation"].startswith("counter-clockwise")


def test_rotation_by_90_degrees_is_a_quarter_turn_counter_clockwise():
    x = torch.rand(3, 1, SIDE, SIDE)
    rotated = _transform(x, 90.0, None, flatten=False)
    assert torch.allclose(rotated, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)


def _expected_dot(angle: float, row: int, col: int) -> tuple[float, float]:
    """Where a pixel goes under a counter-clockwise rotation about the image centre."""
    a = math.radians(angle)
    x, y = col - CENTRE, CENTRE - row  # y up
    return CENTRE - (x * math.sin(a) + y * math.cos(a)), CENTRE + x * math.cos(a) - y * math.sin(a)


def _centroid(image: torch.Tensor) -> tuple[float, float]:
    image = image.reshape(SIDE, SIDE)
    rows, cols = torch.meshgrid(torch.arange(float(SIDE)), torch.arange(float(SIDE)), indexing="ij")
    mass = image.sum()
    return float((rows * image).sum() / mass), float((cols * image).sum() / mass)


def test_every_image_of_a_rotation_task_turns_by_its_angle(pools):
    cfg = _cfg(dataset="dots", test_split="train", benchmark="rotations", tasks=4, per_task=5)
    for task in build_stream(cfg, 0).tasks:
        expected = _expected_dot(task.angle, 3, 14)
        test_x, _ = task.test()
        for image in [*task.train_x, *test_x]:
            assert image.min() >= 0.0 and image.max() <= 1.0
            assert image.sum() > 0.5  # bilinear spreads the dot but keeps most of its mass
            assert np.allclose(_centroid(image), expected, atol=0.5), (task.angle, expected)


def test_permutation_task_images_are_pool_images_with_pixels_permuted(pools):
    stream = build_stream(_cfg(benchmark="permutations", test_per_task=30), 0)
    test_images = torch.from_numpy(pools["syn", "test"][0]).float().div(255).reshape(-1, SIDE**2)
    train_images = torch.from_numpy(pools["syn", "train"][0]).float().div(255).reshape(-1, SIDE**2)
    for task in stream.tasks:
        perm = task.permutation
        assert sorted(perm.tolist()) == list(range(SIDE**2))
        assert not torch.equal(perm, torch.arange(SIDE**2))  # task 0 is permuted too
        x, y = task.test()
        index = task.test_index
        assert torch.equal(x, test_images[index][:, perm]) and len(x) == 30
        assert torch.equal(y, torch.from_numpy(pools["syn", "test"][1])[index])
        unpermuted = torch.empty_like(task.train_x)
        unpermuted[:, perm] = task.train_x
        ids = _ids(unpermuted)
        assert torch.equal(unpermuted, train_images[ids])
    checksums = stream.describe()["permutation_sha256"]
    assert len(set(checksums)) == len(checksums)


def test_colour_images_keep_channels_and_share_one_permutation(pools):
    cfg = _cfg(dataset="rgb", benchmark="permutations", tasks=2, per_task=10, flatten=False)
    stream = build_stream(cfg, 0)
    assert stream.input_shape == (3, SIDE, SIDE)
    x, _ = stream.tasks[0].test()
    pool = torch.from_numpy(pools["rgb", "test"][0]).permute(0, 3, 1, 2).float().div(255)
    expected = pool.reshape(40, 3, -1)[:, :, stream.tasks[0].permutation].reshape(x.shape)
    assert x.shape == (40, 3, SIDE, SIDE) and torch.equal(x, expected)
    flat = build_stream(replace(cfg, flatten=True), 0)
    assert flat.input_shape == (3 * SIDE**2,)
    assert torch.equal(flat.tasks[1].train_x, stream.tasks[1].train_x.reshape(10, -1))


def test_split_classes_tasks_hold_exactly_their_classes(pools):
    stream = build_stream(_cfg(benchmark="split-classes", tasks=5, classes_per_task=2), 0)
    test_labels = pools["syn", "test"][1]
    assert stream.num_classes == 10
    for t, task in enumerate(stream.tasks):
        assert task.classes == (2 * t, 2 * t + 1)
        assert set(task.train_y.tolist()) == set(task.classes)
        x, y = task.test()
        assert set(y.tolist()) == set(task.classes)
        assert len(y) == np.isin(test_labels, task.classes).sum()
        assert _ids(x) == sorted(np.flatnonzero(np.isin(test_labels, task.classes)).tolist())
    assert stream.describe()["task_classes"] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]


def test_per_task_draws_distinct_examples_in_a_shuffled_order(pools):
    cfg = _cfg(benchmark="split-classes", tasks=2, classes_per_task=5, per_task=150)
    stream = build_stream(cfg, 0)
    labels = pools["syn", "train"][1]
    for task in stream.tasks:
        ids = _ids(task.train_x)
        assert len(ids) == len(task.train_y) == 150 and len(set(ids)) == 150
        assert ids != sorted(ids)
        assert torch.equal(task.train_y, torch.from_numpy(labels[ids]))
    everything = build_stream(replace(cfg, per_task=None), 0)
    assert [len(t.train_y) for t in everything.tasks] == [200, 200]


def test_tasks_draw_independently_from_the_whole_pool(pools):
    stream = build_stream(_cfg(benchmark="permutations", tasks=3, per_task=200), 0)
    seen = []
    for task in stream.tasks:
        unpermuted = torch.empty_like(task.train_x)
        unpermuted[:, task.permutation] = task.train_x
        ids = _ids(unpermuted)
        assert len(set(ids)) == 200
        seen.append(set(ids))
    assert seen[0] != seen[1] and seen[0] & seen[1]  # overlapping but different draws


def test_test_sets_are_built_on_demand_and_are_fresh_tensors(pools):
    task = build_stream(_cfg(benchmark="rotations"), 0).tasks[1]
    x1, y1 = task.test()
    x1.zero_()
    y1.zero_()
    x2, y2 = task.test()
    assert x2.abs().sum() > 0 and torch.equal(y2, torch.from_numpy(pools["syn", "test"][1]))
    assert task.test_size == 300
    x3, y3 = task.test(device="cpu")
    assert torch.equal(x3, x2) and torch.equal(y3, y2)


def test_describe_names_both_pools_and_is_json(pools):
    cfg = _cfg(benchmark="rotations", test_split="train", test_per_task=10)
    info = json.loads(json.dumps(build_stream(cfg, 0).describe()))
    assert info["train_pool"] == {"dataset": "syn", "split": "train", "size": 400}
    assert info["test_pool"] == {"dataset": "syn", "split": "train", "size": 400}
    assert info["same_pool"] is True
    assert info["train_sizes"] == [50] * 4 and info["test_sizes"] == [10] * 4
    assert info["input_shape"] == [SIDE**2] and "x/255" in info["pixels"]


def test_per_task_larger_than_the_pool_is_refused(pools):
    with pytest.raises(ConfigError, match=r"stream.per_task=500 .* 400 examples of syn/train"):
        build_stream(_cfg(per_task=500), 0)
    cfg = _cfg(benchmark="split-classes", classes_per_task=2, per_task=100)
    with pytest.raises(ConfigError, match=r"80 examples .* task 0 \(classes \[0, 1\]\).*null"):
        build_stream(cfg, 0)
    with pytest.raises(ConfigError, match="stream.test_per_task=301"):
        build_stream(_cfg(test_per_task=301), 0)


def test_more_split_classes_than_the_pool_has_are_refused(pools):
    cfg = _cfg(benchmark="split-classes", tasks=6, classes_per_task=2, per_task=10)
    with pytest.raises(ConfigError, match=r"6 \* 2 = 12 classes but syn/train has 10"):
        build_stream(cfg, 0)


def test_pools_of_different_shapes_are_refused(pools):
    with pytest.raises(DatasetError, match=r"syn/train has images \[1, 28, 28\].*rgb/test"):
        build_stream(_cfg(test_dataset="rgb"), 0)


@pytest.mark.parametrize("key", ["tasks", "per_task", "classes_per_task", "test_per_task"])
def test_non_positive_sizes_are_refused(key):
    """Sizes are validated with the types, when a params file is read (once)."""
    base = {"benchmark": "rotations", "dataset": "syn", "tasks": 4, "per_task": 50}
    with pytest.raises(ConfigError, match=f"stream.{key}: must be >= 1, got 0"):
        from_dict(StreamConfig, {**base, key: 0}, "stream")


def test_an_unprepared_pool_says_how_to_prepare_it(tmp_path):
    with pytest.raises(DatasetError, match="not prepared.*data prepare mnist"):
        build_stream(_cfg(dataset="mnist"), 0, str(tmp_path))


@pytest.fixture
def mnist_test_root(request) -> Path:
    """The repo's data root if mnist-test is prepared there, else one from the shared mirror."""
    if not problems("mnist-test", REPO / "data"):
        return REPO / "data"
    return request.getfixturevalue("real_root")


def test_real_mnist_test_rotations(mnist_test_root):
    cfg = StreamConfig(
        benchmark="rotations", dataset="mnist-test", train_split="test", tasks=3, per_task=100
    )
    stream = build_stream(cfg, 0, str(mnist_test_root))
    assert stream.num_classes == 10 and stream.input_shape == (784,)
    info = stream.describe()
    assert (
        info["train_pool"]
        == info["test_pool"]
        == {
            "dataset": "mnist-test",
            "split": "test",
            "size": 10000,
        }
    )
    x, y = stream.tasks[2].test()
    assert x.shape == (10000, 784) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.bincount(y).tolist()[:2] == [980, 1135]
    # the rotation conserves roughly the ink of the digits (corners are mostly empty)
    plain = torch.from_numpy(pools_module.load_arrays("mnist-test", "test", mnist_test_root)[0])
    ratio = float(x.sum() / plain.float().div(255).sum())
    assert 0.9 < ratio < 1.05
    assert stream.tasks[0].train_x.shape == (100, 784)
