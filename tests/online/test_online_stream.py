"""The Omniglot-MNIST-FashionMNIST stream: seeded, a pure function of (seed, step), the
protocol's mode mix and switch rate, a fresh label permutation at every switch."""

from __future__ import annotations

import math

import pytest
import torch
from online_fixtures import SIZE, mode, modes, stream

from wheretolearn.algorithms.online.stream import Mode, OnlineStream


def test_same_seed_same_stream_and_any_step_alone_equals_the_sequence():
    a, b, other = stream(seed=3), stream(seed=3), stream(seed=4)
    for t in range(len(a)):
        x, y = a.batch(t), b.batch(t)
        assert torch.equal(x.x, y.x) and torch.equal(x.y, y.y)
        assert (x.mode, x.switched) == (y.mode, y.switched)
    late = stream(seed=3).batch(9)  # a fresh stream asked for step 9 first: resume is trivial
    assert torch.equal(late.x, a.batch(9).x) and late.mode == a.batch(9).mode
    assert any(not torch.equal(a.batch(t).x, other.batch(t).x) for t in range(len(a)))


def test_a_shorter_stream_is_the_first_steps_of_the_full_one():
    """The real-offline profile cuts the stream's length only: its steps are the paper-length
    stream's first steps, batch for batch."""
    short, full = stream(steps=40, p=0.9, seed=3), stream(steps=400, p=0.9, seed=3)
    for t in range(len(short)):
        a, b = short.batch(t), full.batch(t)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
        assert (a.mode, a.switched) == (b.mode, b.switched)


def test_a_batch_is_ways_by_shots_with_labels_fixed_within_a_task():
    s = stream(steps=30, p=0.8, seed=1)
    first = s.batch(0)
    assert first.x.shape == (50, 1, SIZE, SIZE) and not first.switched
    assert first.x.dtype == torch.float32 and first.x.min() >= 0.0 and first.x.max() <= 1.0
    assert torch.equal(first.y, torch.arange(10).repeat_interleave(5))
    mapping = {}
    for t in range(len(s)):
        b = s.batch(t)
        source = (b.x[:, 0, 0, 0] * 255).round().long()  # the class id written into the image
        if b.switched or t == 0:
            mapping = {}
        for label, cls in zip(b.y.tolist(), source.tolist(), strict=True):
            assert mapping.setdefault(label, cls) == cls, f"step {t}: label {label} changed"
        assert len(set(mapping.values())) == 10  # ten distinct classes per task


def test_mode_mix_and_switch_rate_within_sampling_error():
    s = OnlineStream(modes(), p=0.9, steps=20_000, seed=0)
    rate = float(s.switches.double().mean())
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / 20_000)
    starts = [0] + torch.nonzero(s.switches).flatten().tolist()
    drawn = [s.modes[s.task(t).mode].name for t in starts]
    n = len(drawn)
    for name, weight in {"omniglot": 0.5, "mnist": 0.25, "fashion-mnist": 0.25}.items():
        share = drawn.count(name) / n
        assert abs(share - weight) < 4 * math.sqrt(weight * (1 - weight) / n), name


def test_every_switch_of_a_ten_class_mode_brings_a_fresh_permutation():
    s = OnlineStream(modes(), p=0.5, steps=400, seed=2)
    orders = [s.task(t).classes for t in torch.nonzero(s.switches).flatten().tolist()
              if s.modes[s.task(t).mode].name == "mnist"]  # fmt: skip
    assert len(orders) > 20 and all(sorted(o) == list(range(10)) for o in orders)
    assert len(set(orders)) == len(orders)  # 10! orders: a repeat would be a seeding bug


def test_scale_reproduces_the_authors_0_255_pixels():
    raw = mode("mnist", 10, 3, 1.0, seed=0)
    scaled = Mode("mnist", raw.images, raw.labels, 1.0, scale=255.0)
    a = OnlineStream([raw], p=0.9, steps=2, seed=0).batch(1).x
    b = OnlineStream([scaled], p=0.9, steps=2, seed=0).batch(1).x
    torch.testing.assert_close(b, a * 255.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"p": 1.0}, "must be in \\[0, 1\\)"),
        ({"ways": 12}, "fewer than ways = 12"),
        ({"weight": 0.0}, "weight must be positive"),
        ({"labels": 3}, "images must be \\[N, C, H, W\\] with N labels"),
    ],
)
def test_bad_streams_are_refused_with_a_message(change, message):
    m = mode("mnist", 10, 2, change.get("weight", 1.0), seed=0)
    if "labels" in change:
        m = Mode("mnist", m.images, m.labels[: change["labels"]], 1.0)
    with pytest.raises(ValueError, match=message):
        OnlineStream([m], p=change.get("p", 0.9), steps=5, seed=0, ways=change.get("ways", 10))
