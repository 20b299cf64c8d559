"""The rules the online variants add: C-MAML's per-tensor step sizes (any sign) and
sparse-ReLU-C-MAML's uniform initialisation."""

from __future__ import annotations

import pytest
import torch
from online_fixtures import learner, stream

from wheretolearn.algorithms.inner_loop import adapt
from wheretolearn.algorithms.rules.base import method_options
from wheretolearn.errors import ConfigError


def test_tensor_lr_is_one_learned_scalar_per_tensor_applied_to_the_gradient():
    ln = learner({"name": "tensor-lr", "alpha": 0.1})
    steps = dict(ln.rule.steps.items())
    assert len(steps) == 10 and all(s.dim() == 0 and float(s.detach()) == pytest.approx(0.1)
                                    for s in steps.values())  # fmt: skip
    with torch.no_grad():
        ln.rule.steps["classifier__weight"].fill_(-0.25)  # any sign is allowed
    b = stream(steps=1).batch(0)
    theta = dict(ln.model.named_parameters())
    phi = adapt(ln.model, ln.rule, theta, b.x, b.y, 1)
    loss = torch.nn.functional.cross_entropy(ln.model(b.x), b.y)
    grad = torch.autograd.grad(loss, [theta["classifier.weight"]])[0]
    torch.testing.assert_close(phi["classifier.weight"], theta["classifier.weight"] + 0.25 * grad)


def test_tensor_lr_step_sizes_are_meta_learned():
    ln = learner({"name": "tensor-lr", "alpha": 0.1}, gamma=1e9, full_buffer=1)
    before = [s.detach().clone() for s in ln.rule.parameters()]
    s = stream(steps=3, p=0.0)
    for t in range(3):
        ln.observe(s.batch(t).x, s.batch(t).y)
    assert any(not torch.equal(a, b) for a, b in zip(before, ln.rule.parameters(), strict=True))


def test_relu_rates_start_uniform_in_the_range_or_at_alpha():
    uniform = learner({"name": "sparse-relu-maml", "init": "uniform", "low": 0.005, "high": 0.1})
    values = torch.cat([r.detach().flatten() for r in uniform.rule.rates.values()])
    assert values.min() >= 0.005 and values.max() <= 0.1 and values.std() > 0.01
    constant = learner({"name": "sparse-relu-maml", "alpha": 0.1})
    assert all(bool((r == 0.1).all()) for r in constant.rule.rates.values())


@pytest.mark.parametrize(
    "method, key",
    [
        ({"init": "uniform", "low": 0.005}, "method.low or method.high"),
        ({"init": "uniform", "low": 0.1, "high": 0.005}, "method.low: must be < method.high"),
        ({}, "method.alpha"),
    ],
)
def test_relu_init_options_are_checked_by_name(method, key):
    with pytest.raises(ConfigError, match=key):
        method_options({"name": "sparse-relu-maml", **method})
