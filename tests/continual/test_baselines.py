"""Continual baselines (sgd, er, gem, mer) against values derived by hand, float64.

The model is a linear softmax classifier ``z = x W^T + b`` (4 inputs, 3 classes). For the mean
cross-entropy over N examples, ``dL/dz_n = (softmax(z_n) - onehot(y_n)) / N``, so
``dL/dW = D^T X`` and ``dL/db = sum_n D_n`` with ``D`` the (N, 3) matrix of those rows. The
``maml`` rule at rate ``alpha`` makes every step ``theta - alpha * g``.
"""

from __future__ import annotations

import copy
import io
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch import nn

from wheretolearn.algorithms.continual.base import LEARNERS, ContinualTrainConfig, clip_norm_
from wheretolearn.algorithms.continual.er import ER
from wheretolearn.algorithms.continual.gem import GEM, EpisodicMemory, gem_dual, gem_project
from wheretolearn.algorithms.continual.mer import MER
from wheretolearn.algorithms.continual.sgd import SGD
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.errors import ConfigError
from wheretolearn.validate import from_dict

ALPHA = 0.3
D, C = 4, 3


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(D, C).double()


DEFAULTS = {  # a value for every required option (the params files set them)
    "sgd": {},
    "er": {"steps": 1},
    "gem": {"memories_per_task": 10, "memory_strength": 0.5},
    "mer": {"beta": 0.1, "gamma": 1.0, "batches_per_example": 1},
}


def learner_options(cls, **kw):
    return cls.Options(**{**DEFAULTS[cls.learner_name], **kw})


def make(cls, options=None, *, seed=0, memories=6, replay=3, clip=None, alpha=ALPHA):
    model = make_model(seed)
    rule = build_rule({"name": "maml", "alpha": alpha}, model, set())
    train = ContinualTrainConfig(
        batch_size=10,
        epochs=1,
        memories=memories,
        replay_batch_size=replay,
        clip_norm=clip,
        dtype="float64",
    )
    gen = torch.Generator().manual_seed(123)
    return cls(model, rule, options or learner_options(cls), train, gen)


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, D, generator=g, dtype=torch.float64), torch.randint(C, (n,), generator=g)


def hand_grad(w, b, x, y):
    """(dL/dW, dL/db) of the mean cross-entropy, from the closed form above."""
    z = x @ w.T + b
    p = torch.exp(z - z.logsumexp(1, keepdim=True))
    d = (p - torch.eye(C, dtype=x.dtype)[y]) / len(x)
    return d.T @ x, d.sum(0)


def hand_sgd(w, b, x, y, alpha=ALPHA):
    gw, gb = hand_grad(w, b, x, y)
    return w - alpha * gw, b - alpha * gb


def weights(learner):
    return learner.model.weight.detach().clone(), learner.model.bias.detach().clone()


def flat_grad(learner, x, y):
    gw, gb = hand_grad(*weights(learner), x, y)
    return torch.cat([gw.reshape(-1), gb])


def test_registered():
    assert {LEARNERS.get(n) for n in ("sgd", "er", "gem", "mer")} == {SGD, ER, GEM, MER}


@pytest.mark.parametrize(
    "cls,bad", [(SGD, {"steps": 0}), (ER, {"steps": 0}), (GEM, {"memory_strength": -1.0}),
                (GEM, {"memories_per_task": -1}), (MER, {"batches_per_example": 0})]
)  # fmt: skip
def test_options_refuse_bad_values(cls, bad):
    key = next(iter(bad))
    with pytest.raises(ConfigError, match=f"learner.{key}: must be"):
        from_dict(cls.Options, {**DEFAULTS[cls.learner_name], **bad}, "learner")


def test_shared_clip_matches_torch():
    a, b = torch.randn(3, 2, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    leaves = [torch.zeros_like(a, requires_grad=True), torch.zeros_like(b, requires_grad=True)]
    leaves[0].grad, leaves[1].grad = a.clone(), b.clone()
    torch.nn.utils.clip_grad_norm_(leaves, 0.5)
    clip_norm_(out := [a.clone(), b.clone()], 0.5)
    assert all(torch.equal(o, leaf.grad) for o, leaf in zip(out, leaves, strict=True))


# --- sgd ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [1, 2])
def test_sgd_steps_are_hand_sgd(steps):
    learner = make(SGD, learner_options(SGD, steps=steps))
    x, y = data(5, 1)
    w, b = weights(learner)
    for _ in range(steps):
        w, b = hand_sgd(w, b, x, y)
    learner.observe(x, y, task=0)
    torch.testing.assert_close(weights(learner), (w, b), rtol=0, atol=1e-12)


def test_sgd_clips_the_joint_norm():
    learner = make(SGD, clip=0.1)
    x, y = data(5, 1)
    w, b = weights(learner)
    gw, gb = hand_grad(w, b, x, y)
    scale = 0.1 / (torch.cat([gw.reshape(-1), gb]).norm() + 1e-6)
    assert scale < 1  # the clip is active
    learner.observe(x, y, task=0)
    expected = (w - ALPHA * scale * gw, b - ALPHA * scale * gb)
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)


def test_step_size_comes_from_the_rule():
    """One SGD step is linear in the rule's alpha: twice the rate, twice the change."""
    steps = []
    for alpha in (0.125, 0.25):
        learner = make(SGD, alpha=alpha)
        before = weights(learner)
        learner.observe(*data(5, 1), task=0)
        steps.append([w - b for w, b in zip(weights(learner), before, strict=True)])
    for small, large in zip(*steps, strict=True):
        assert small.abs().sum() > 0
        torch.testing.assert_close(large, 2 * small, rtol=1e-5, atol=1e-7)


# --- er -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("replay", [2, 4])
def test_er_loss_is_on_incoming_plus_replayed(replay):
    learner = make(ER, memories=4, replay=replay)
    mx, my = data(4, 7)
    learner.buffer.add(mx, my, task=0)
    x, y = data(3, 1)
    state = learner.generator.get_state()
    rx, ry, _ = learner.buffer.copy().sample(replay)  # the draw observe() will make
    learner.generator.set_state(state)
    expected = hand_sgd(*weights(learner), torch.cat([x, rx]), torch.cat([y, ry]))
    incoming_only = hand_sgd(*weights(learner), x, y)
    learner.observe(x, y, task=1)
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(weights(learner)[0], incoming_only[0])


def test_er_first_batch_has_no_replay_and_buffer_is_capped():
    learner = make(ER, memories=5, replay=3)
    x, y = data(2, 1)
    expected = hand_sgd(*weights(learner), x, y)
    learner.observe(x, y, task=0)
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)
    sizes = [len(learner.buffer)]
    for seed in range(2, 5):
        learner.observe(*data(2, seed), task=0)
        sizes.append(len(learner.buffer))
    assert sizes == [2, 4, 5, 5]
    assert learner.buffer.seen == 8  # once per batch, not once per step


def test_er_adds_once_per_batch_with_several_steps():
    learner = make(ER, learner_options(ER, steps=3), memories=50)
    learner.observe(*data(4, 1), task=0)
    assert len(learner.buffer) == 4 and learner.buffer.seen == 4


@pytest.mark.parametrize("cls", [ER, GEM, MER])
def test_revisited_examples_do_not_enter_the_memory_again(cls):
    """Multi-pass runs: on the second epoch over a task, examples are not new samples."""
    learner = make(cls, memories=50)
    learner.observe(*data(3, 1), task=0)
    store = learner.memory if cls is GEM else learner.buffer
    before = copy.deepcopy(store.state())
    learner.first_visit = False
    learner.observe(*data(3, 1), task=0)
    assert same(before, store.state())
    learner.first_visit = True
    learner.observe(*data(3, 1), task=0)
    assert not same(before, store.state())


def same(a, b) -> bool:
    """Deep equality of nested dicts / lists / tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# --- gem ----------------------------------------------------------------------------------------


def dual_objective(v, big, g):
    r = big.T @ v + g
    return 0.5 * r @ r - 0.5 * g @ g


def brute_force_dual(big, g, margin):
    """Enumerate which v_k sit at the bound; solve the rest; keep the best feasible point."""
    t = len(big)
    gram, lin = big @ big.T, big @ g
    best, best_v = np.inf, None
    for free in itertools.chain.from_iterable(
        itertools.combinations(range(t), k) for k in range(t + 1)
    ):
        v = np.full(t, margin)
        f = list(free)
        if f:
            fixed = [k for k in range(t) if k not in free]
            rhs = -lin[f] - gram[np.ix_(f, fixed)] @ v[fixed]
            v[f] = np.linalg.solve(gram[np.ix_(f, f)], rhs)
        if (v >= margin - 1e-12).all() and dual_objective(v, big, g) < best:
            best, best_v = dual_objective(v, big, g), v
    return best_v


@pytest.mark.parametrize("margin", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(4))
def test_gem_dual_matches_brute_force_and_minimize(margin, seed):
    rng = np.random.default_rng(seed)
    big, g = rng.normal(size=(4, 9)), rng.normal(size=9)
    g -= 2 * big[0]  # make sure at least one memory conflicts
    v = gem_dual(big, g, margin)
    np.testing.assert_allclose(v, brute_force_dual(big, g, margin), atol=1e-10)
    bounded = minimize(
        dual_objective, np.full(4, margin + 1.0), args=(big, g), method="L-BFGS-B",
        jac=lambda v, big, g: big @ (big.T @ v + g), bounds=[(margin, None)] * 4,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )  # fmt: skip
    np.testing.assert_allclose(v, bounded.x, atol=1e-5)
    assert (v >= margin).all()


@pytest.mark.parametrize("seed", range(5))
def test_gem_projection_removes_every_conflict(seed):
    gen = torch.Generator().manual_seed(seed)
    big = torch.randn(5, 12, generator=gen, dtype=torch.float64)
    g = torch.randn(12, generator=gen, dtype=torch.float64) - 1.5 * big[:2].sum(0)
    assert (big @ g < 0).any()
    for margin in (0.0, 0.5):
        projected = gem_project(g, big, margin)
        assert (big @ projected >= -1e-9).all()
        assert not torch.equal(projected, g)


def test_gem_projection_is_identity_without_conflict():
    big = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([0.5, 0.0, -3.0], dtype=torch.float64)  # dot products 0.5 and 0
    assert gem_project(g, big, 0.5) is g


def test_gem_projection_rank_deficient_memories():
    big = torch.tensor([[1.0, 1.0, 0.0], [2.0, 2.0, 0.0]], dtype=torch.float64)
    g = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    projected = gem_project(g, big, 0.0)  # the plain projection onto {z : z0 + z1 >= 0}
    torch.testing.assert_close(projected, torch.tensor([-0.5, 0.5, 1.0], dtype=torch.float64))


def test_episodic_memory_keeps_the_last_examples_per_task():
    memory = EpisodicMemory(3)
    x = torch.arange(5, dtype=torch.float64)[:, None]
    memory.add(x[:2], torch.arange(2), task=0)
    memory.add(x[2:], torch.arange(2, 5), task=0)  # crosses the end of the ring
    memory.add(x[:1] + 10, torch.tensor([0]), task=1)
    mx, my = memory.get(0)
    assert sorted(mx[:, 0].tolist()) == [2.0, 3.0, 4.0] and sorted(my.tolist()) == [2, 3, 4]
    assert memory.get(1)[0].tolist() == [[10.0]] and memory.tasks() == [0, 1]
    memory.add(x, torch.arange(5), task=2)  # a batch larger than the ring
    assert sorted(memory.get(2)[1].tolist()) == [2, 3, 4]


def conflicting_tasks():
    x0, y0 = data(6, 3)
    return (x0, y0), (x0 + 0.01, (y0 + 1) % C)  # nearly the same inputs, other labels


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_gem_observe_does_not_increase_past_memory_loss_to_first_order(margin):
    learner = make(GEM, learner_options(GEM, memories_per_task=6, memory_strength=margin))
    (x0, y0), (x1, y1) = conflicting_tasks()
    learner.observe(x0, y0, task=0)
    g_past = flat_grad(learner, x0, y0)  # the whole task-0 batch is its memory
    g_new = flat_grad(learner, x1, y1)
    assert g_past @ g_new < 0  # plain SGD would increase the task-0 loss
    before = torch.cat([t.reshape(-1) for t in weights(learner)])
    learner.observe(x1, y1, task=1)
    delta = torch.cat([t.reshape(-1) for t in weights(learner)]) - before
    assert delta @ g_past <= 1e-12
    torch.testing.assert_close(delta, -ALPHA * gem_project(g_new, g_past[None], margin))


def test_gem_current_task_memory_is_no_constraint():
    learner = make(GEM, learner_options(GEM, memories_per_task=6))
    (x0, y0), (x1, y1) = conflicting_tasks()
    expected = hand_sgd(*weights(learner), x0, y0)
    learner.observe(x0, y0, task=0)  # nothing in memory yet: plain SGD
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)
    assert flat_grad(learner, x0, y0) @ flat_grad(learner, x1, y1) < 0
    expected = hand_sgd(*weights(learner), x1, y1)
    learner.observe(x1, y1, task=0)  # conflicts with task 0's memory, but it is task 0
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)
    assert learner.memory.tasks() == [0]


# --- mer ----------------------------------------------------------------------------------------


def test_mer_with_unit_rates_and_empty_buffer_is_one_sgd_step():
    learner = make(MER, learner_options(MER, beta=1.0, gamma=1.0))
    twin = make(SGD)
    x, y = data(1, 1)
    expected = hand_sgd(*weights(learner), x, y)
    learner.observe(x, y, task=0)
    twin.observe(x, y, task=0)
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)
    assert all(torch.equal(a, b) for a, b in zip(weights(learner), weights(twin), strict=True))
    assert len(learner.buffer) == 1


def test_mer_gamma_zero_leaves_weights_unchanged():
    learner = make(MER, learner_options(MER, beta=0.7, gamma=0.0, batches_per_example=2))
    learner.buffer.add(*data(4, 9), task=0)
    before = weights(learner)
    learner.observe(*data(3, 1), task=1)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(learner), strict=True))
    assert len(learner.buffer) == 6


def test_mer_order_and_both_reptile_rates_by_hand():
    beta, gamma = 0.5, 0.25
    learner = make(
        MER, learner_options(MER, beta=beta, gamma=gamma, batches_per_example=2), replay=1
    )
    mx, my = data(1, 9)
    learner.buffer.add(mx, my, task=0)
    x, y = data(1, 1)
    start = weights(learner)
    theta = start
    for _ in range(2):  # each batch: the incoming example first, then the one memory
        a = theta
        theta = hand_sgd(*hand_sgd(*theta, x, y), mx, my)
        theta = tuple(ta + beta * (tb - ta) for ta, tb in zip(a, theta, strict=True))
    expected = tuple(s + gamma * (t - s) for s, t in zip(start, theta, strict=True))
    learner.observe(x, y, task=1)
    torch.testing.assert_close(weights(learner), expected, rtol=0, atol=1e-12)


def test_mer_second_example_can_replay_the_first():
    learner = make(MER, learner_options(MER, beta=1.0, gamma=1.0), replay=5)
    x, y = data(2, 1)
    w, b = hand_sgd(*weights(learner), x[:1], y[:1])
    w, b = hand_sgd(*hand_sgd(w, b, x[1:], y[1:]), x[:1], y[:1])
    learner.observe(x, y, task=0)
    torch.testing.assert_close(weights(learner), (w, b), rtol=0, atol=1e-12)


# --- resume -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,options",
    [(SGD, learner_options(SGD, steps=2)), (ER, learner_options(ER, steps=2)),
     (GEM, learner_options(GEM, steps=2, memories_per_task=3)),
     (MER, learner_options(MER, beta=0.5, gamma=0.8, batches_per_example=2))],
)  # fmt: skip
def test_extra_state_round_trip_gives_the_identical_next_update(cls, options):
    learner = make(cls, options, memories=5, replay=2, clip=1.0)
    for k in range(4):
        learner.observe(*data(3, k), task=k // 2)
    blob = io.BytesIO()
    torch.save({"model": learner.model.state_dict(), "extra": learner.extra_state(),
                "generator": learner.generator.get_state()}, blob)  # fmt: skip
    saved_buffers = copy.deepcopy(learner.extra_state())
    x, y = data(3, 99)
    learner.observe(x, y, task=2)
    learner.observe(x, y, task=2)
    blob.seek(0)
    state = torch.load(blob)
    resumed = make(cls, options, seed=5, memories=5, replay=2, clip=1.0)
    resumed.model.load_state_dict(state["model"])
    resumed.load_extra_state(state["extra"])
    resumed.generator.set_state(state["generator"])
    assert repr(resumed.extra_state()) == repr(saved_buffers)
    resumed.observe(x, y, task=2)
    resumed.observe(x, y, task=2)
    assert all(torch.equal(a, b) for a, b in zip(weights(learner), weights(resumed), strict=True))
    assert repr(resumed.extra_state()) == repr(learner.extra_state())
