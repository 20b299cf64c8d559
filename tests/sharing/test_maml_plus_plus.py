"""MAML++: per-layer per-step learned rates by hand, the multi-step loss's weights and its
gradient, derivative-order annealing and the cosine outer learning rate."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from synthetic import tiny
from wheretolearn.algorithms import episodic
from wheretolearn.algorithms.inner_loop import adapt
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.algorithms.schedules import cosine_lr, first_order_in, step_weights


def lslr(model, **options):
    method = {"name": "maml-plus-plus", "alpha": 0.1, "steps": 3, **options}
    rule = build_rule(method, model, set()).double()
    with torch.no_grad():  # a different rate per tensor and step
        for i, (name, _) in enumerate(model.named_parameters()):
            rule.rates[name.replace(".", "__")].copy_(
                torch.tensor([0.1, 0.3, -0.2], dtype=torch.float64) * (i + 1)
            )
    return rule


def test_each_tensor_steps_with_its_own_rate_at_each_step():
    model, data = tiny(1)
    rule = lslr(model)
    x, y = data.support_x[0], data.support_y[0]
    phi = dict(model.named_parameters())
    expected = dict(phi)
    for k in range(3):
        loss = nn.functional.cross_entropy(torch.func.functional_call(model, expected, (x,)), y)
        grads = torch.autograd.grad(loss, list(expected.values()))
        for i, (n, g) in enumerate(zip(list(expected), grads, strict=True)):
            expected[n] = expected[n] - [0.1, 0.3, -0.2][k] * (i + 1) * g
    got = adapt(model, rule, phi, x, y, 3)
    for n in expected:
        torch.testing.assert_close(got[n], expected[n], rtol=0, atol=1e-14)


def test_fixed_rates_have_no_meta_parameters():
    model, _ = tiny()
    assert list(lslr(model, learned_rates=False).parameters()) == []
    assert len(list(lslr(model).parameters())) == 2


def test_multi_step_loss_weights_by_hand():
    assert step_weights(5, 0, 10) == pytest.approx([0.2] * 5)
    # epoch 2 of 10: the first four fall by 2/50, the last rises by 4 times that
    assert step_weights(5, 2, 10) == pytest.approx([0.16] * 4 + [0.36])
    late = step_weights(5, 9, 10)  # floors: 0.03/5 below, 1 - 4 * 0.006 above
    assert late == pytest.approx([0.02] * 4 + [0.92])
    assert step_weights(5, 10, 10) is None  # the last step's loss alone from then on


def meta_gradient(inner_steps, weights):
    model, data = tiny()
    rule = lslr(model)
    episodic.meta_train_step(model, rule, data, inner_steps=inner_steps, first_order=False,
                             step_weights=weights)  # fmt: skip
    return [p.grad.clone() for p in [*model.parameters(), *rule.parameters()]]


def test_the_multi_step_loss_is_the_weighted_sum_of_each_steps_loss():
    last_only = meta_gradient(3, None)
    for a, b in zip(meta_gradient(3, [0.0, 0.0, 1.0]), last_only, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)
    # weight on step 1 alone: the meta-gradient of a one-step run (step 2 and 3's rates: 0)
    first = meta_gradient(3, [1.0, 0.0, 0.0])
    for a, b in zip(first, meta_gradient(1, None), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)
    mixed = meta_gradient(3, [0.25, 0.25, 0.5])
    parts = [meta_gradient(3, w) for w in ([1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0])]
    for m, *p in zip(mixed, *parts, strict=True):
        torch.testing.assert_close(m, 0.25 * p[0] + 0.25 * p[1] + 0.5 * p[2], rtol=0, atol=1e-13)


def test_derivative_order_annealing_and_cosine_lr():
    assert [first_order_in(e, False, 2) for e in range(4)] == [True, True, False, False]
    assert all(first_order_in(e, True, 0) for e in range(3))
    assert cosine_lr(1e-3, 1e-5, 0, 100) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 1e-5, 50, 100) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_lr(1e-3, 0.0, 25, 100) == pytest.approx(0.5e-3 * (1 + math.cos(math.pi / 4)))
