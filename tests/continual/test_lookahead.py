"""La-MAML and sparse-La-MAML (the ``lookahead`` learner) against hand-derived updates.

A linear softmax model in float64, a batch of two examples, one glance, an empty memory and
no clipping. With first-order inner steps ``phi_1 = theta - a*g_1``, ``phi_2 = phi_1 - a*g_2``
(``g_k`` the gradient of example k's loss at ``phi_{k-1}``, treated as constant), the outer
loss ``L(phi_2; B)`` has ``dL/dtheta = g_out`` and ``dL/da = -g_out * (g_1 + g_2)`` per element.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from synthetic import with_example
from wheretolearn.algorithms.continual.base import ContinualTrainConfig, build_learner
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.errors import ConfigError

D, C = 5, 3


def setup(method, learner, memories=0, seed=0):
    torch.manual_seed(seed)
    model = nn.Linear(D, C).double()
    rule = build_rule(with_example(method), model, set()).double()
    train = ContinualTrainConfig(
        batch_size=10, epochs=1, memories=memories, replay_batch_size=4, clip_norm=None
    )
    gen = torch.Generator().manual_seed(seed)
    return build_learner(learner, model, rule, train, gen), gen


def grad(model, params, x, y):
    params = {n: p.detach().requires_grad_() for n, p in params.items()}
    loss = F.cross_entropy(functional_call(model, params, (x,)), y)
    return dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))


def hand_step(model, theta, rate, x, y, order):
    """First-order look-ahead with per-element step ``rate``; meta-loss at the last step."""
    phi, g_in = dict(theta), {n: torch.zeros_like(t) for n, t in theta.items()}
    for k in order:
        g = grad(model, phi, x[k : k + 1], y[k : k + 1])
        phi = {n: phi[n] - rate[n] * g[n] for n in phi}
        g_in = {n: g_in[n] + g[n] for n in phi}
    return grad(model, phi, x, y), g_in


def data():
    g = torch.Generator().manual_seed(7)
    return torch.randn(2, D, generator=g, dtype=torch.float64), torch.tensor([0, 2])


def test_la_maml_step_by_hand():
    lr, alpha = 0.3, 0.15
    learner, gen = setup(
        {"name": "la-maml", "alpha": alpha},
        {"name": "lookahead", "meta_lr": lr, "glances": 1, "meta_loss": "last"},
    )
    x, y = data()
    order = torch.randperm(2, generator=gen.clone_state()).tolist()
    theta = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    with torch.no_grad():  # make one rate dead, one far below the others
        learner.rule.rates["weight"][0, 0] = -0.05
    rates0 = {n: learner.rule.rates[n].detach().clone() for n in theta}
    rate = {n: torch.relu(rates0[n]) for n in theta}
    g_out, g_in = hand_step(learner.model, theta, rate, x, y, order)
    learner.observe(x, y, task=0)
    for n in theta:
        # rates first: d/d(rate) through relu (zero where the rate is dead) ...
        d_rate = -g_out[n] * g_in[n] * (rates0[n] > 0)
        new_rate = rates0[n] - lr * d_rate
        torch.testing.assert_close(learner.rule.rates[n].detach(), new_rate)
        # ... then the weights with the new rectified rates
        new_theta = theta[n] - torch.relu(new_rate) * g_out[n]
        torch.testing.assert_close(learner.model.state_dict()[n], new_theta)
    # the dead rate stayed dead and its weight did not move
    assert learner.rule.rates["weight"][0, 0] == -0.05
    assert learner.model.weight[0, 0] == theta["weight"][0, 0]


def test_sparse_la_maml_is_algorithm_1():
    """m <- m + gamma * alpha_0 * g_out * sum_k g_in_k; theta <- theta - alpha_0 1[m>=0] g_out."""
    gamma, alpha0 = 1.7, 0.15
    method = {"name": "sparse-maml", "alpha": alpha0, "init": "constant", "init_shift": 0.01}
    learner, gen = setup(
        method, {"name": "lookahead", "meta_lr": gamma, "glances": 1, "meta_loss": "last"}
    )
    x, y = data()
    order = torch.randperm(2, generator=gen.clone_state()).tolist()
    with torch.no_grad():
        learner.rule.mask_logits["weight"][1, 2] = -1e-3  # one closed coordinate
    theta = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
    m0 = {n: learner.rule.mask_logits[n].detach().clone() for n in theta}
    rate = {n: alpha0 * (m0[n] >= 0).double() for n in theta}
    g_out, g_in = hand_step(learner.model, theta, rate, x, y, order)
    learner.observe(x, y, task=0)
    for n in theta:
        m1 = m0[n] + gamma * alpha0 * g_out[n] * g_in[n]
        torch.testing.assert_close(learner.rule.mask_logits[n].detach(), m1)
        torch.testing.assert_close(
            learner.model.state_dict()[n], theta[n] - alpha0 * (m1 >= 0).double() * g_out[n]
        )


def test_a_closed_mask_coordinate_can_reopen_but_a_dead_rate_cannot():
    """Feed one example repeatedly: the inner and outer gradients of a frozen coordinate agree
    in sign, so the straight-through update pushes its logit up until it reopens; La-MAML's
    rectified rate at the same place receives no gradient at all."""
    x, y = data()
    x, y = x[:1].repeat(4, 1), y[:1].repeat(4)
    method = {"name": "sparse-maml", "alpha": 0.15, "init": "constant", "init_shift": 0.1}
    sparse, _ = setup(method, {"name": "lookahead", "meta_lr": 1.7, "glances": 1})
    lamaml, _ = setup(
        {"name": "la-maml", "alpha": 0.15}, {"name": "lookahead", "meta_lr": 0.3, "glances": 1}
    )
    with torch.no_grad():
        sparse.rule.mask_logits["weight"][y[0], 0] = -1e-4
        lamaml.rule.rates["weight"][y[0], 0] = -1e-4
    for _ in range(3):
        sparse.observe(x, y, task=0)
        lamaml.observe(x, y, task=0)
    assert sparse.rule.mask_logits["weight"][y[0], 0] > 0
    assert lamaml.rule.rates["weight"][y[0], 0] == -1e-4
    assert sparse.sparsity()["weight"] == 0.0
    assert lamaml.sparsity()["weight"] == pytest.approx(1 / (C * D))


def test_open_mask_without_mask_learning_equals_la_maml_without_rate_learning():
    x, y = data()
    mask = {"name": "sparse-maml", "alpha": 0.1, "init": "constant", "init_shift": 1.0}
    a, _ = setup(mask, {"name": "lookahead", "meta_lr": 0.0, "glances": 3}, memories=5)
    b, _ = setup(
        {"name": "la-maml", "alpha": 0.1},
        {"name": "lookahead", "meta_lr": 0.0, "glances": 3},
        memories=5,
    )
    for task in range(3):
        a.observe(x + task, y, task)
        b.observe(x + task, y, task)
    for (n, p), q in zip(a.model.named_parameters(), b.model.parameters(), strict=True):
        torch.testing.assert_close(p, q, msg=n)


def test_replay_uses_the_past_tasks_memory_after_a_task_switch():
    learner, _ = setup(
        {"name": "la-maml", "alpha": 0.1},
        {"name": "lookahead", "meta_lr": 0.3, "glances": 2},
        memories=50,
    )
    x, y = data()
    learner.observe(x, y, task=0)
    assert len(learner.memory) == 2  # added once per example, not once per glance
    learner.observe(x, y, task=1)
    assert learner.past.t[: len(learner.past)].tolist() == [0, 0]
    assert sorted(learner.memory.t[: len(learner.memory)].tolist()) == [0, 0, 1, 1]


def test_unknown_learner_option_is_named():
    from wheretolearn.algorithms.continual.base import learner_options

    with pytest.raises(ConfigError, match="learner.glancez"):
        learner_options({"name": "lookahead", "glancez": 3})
    with pytest.raises(ConfigError, match="unknown learner 'la-mamal'"):
        learner_options({"name": "la-mamal"})
