"""GEMS' rules by hand on a tiny float64 model: BMP starts as MAML, closes a layer exactly, and
its gates depend on the task; MMSUP adapts exactly the top-k of each layer by magnitude."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from synthetic import tiny
from wheretolearn.algorithms import episodic
from wheretolearn.algorithms.inner_loop import adapt
from wheretolearn.algorithms.rules.base import Task, build_rule
from wheretolearn.errors import ConfigError


class TwoLayer(nn.Module):
    """Two linear layers (``layer``, ``extra``), both in the forward pass."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 5)
        self.extra = nn.Linear(5, 3)

    def forward(self, x, context=None):
        return self.extra(torch.tanh(self.layer(x)))


def two_layer():
    _, data = tiny()
    torch.manual_seed(1)
    return TwoLayer().double(), data


def rule_for(model, name, **options):
    return build_rule({"name": name, **options}, model, set()).double()


def maml_steps(model, x, y, steps, alpha):
    phi = dict(model.named_parameters())
    for _ in range(steps):
        loss = nn.functional.cross_entropy(torch.func.functional_call(model, phi, (x,)), y)
        grads = torch.autograd.grad(loss, list(phi.values()))
        phi = {n: p - alpha * g for (n, p), g in zip(phi.items(), grads, strict=True)}
    return phi


def test_bmp_starts_as_maml():
    model, data = tiny()
    rule = rule_for(model, "bmp", alpha=0.3, hidden=8, open_init=1.0)
    x, y = data.support_x[0], data.support_y[0]
    got = adapt(model, rule, dict(model.named_parameters()), x, y, 2)
    for n, expected in maml_steps(model, x, y, 2, 0.3).items():
        torch.testing.assert_close(got[n], expected, rtol=0, atol=1e-14)


def test_a_closed_bmp_layer_does_not_move():
    model, data = two_layer()
    rule = rule_for(model, "bmp", alpha=0.3, hidden=8, open_init=1.0)
    with torch.no_grad():
        rule.adapter[2].bias[0] = -1.0  # layer 0 ("layer") closed, "extra" open
    theta = dict(model.named_parameters())
    got = adapt(model, rule, theta, data.support_x[0], data.support_y[0], 2)
    assert torch.equal(got["layer.weight"], theta["layer.weight"])
    assert list(rule.layers) == ["layer", "extra"]
    assert rule.sparsity()["layer.weight"] == 1.0 and rule.sparsity()["extra.weight"] == 0.0


def test_bmp_gates_depend_on_the_task_and_are_meta_learned():
    model, data = two_layer()
    rule = rule_for(model, "bmp", alpha=0.3, hidden=8, open_init=0.0)
    torch.manual_seed(3)
    with torch.no_grad():
        rule.adapter[2].weight.normal_(0, 1.0)
    theta = dict(model.named_parameters())
    gates = []
    for t in range(2):
        modulation = rule.begin(Task(model, theta, data.support_x[t], data.support_y[t]))
        grads = Task(model, theta, data.support_x[t], data.support_y[t]).gradients()
        gates.append(rule.gates(0, theta, grads, modulation))
    assert not torch.equal(gates[0][1], gates[1][1])  # the task rate differs
    episodic.meta_train_step(model, rule, data, inner_steps=2, first_order=True)
    assert rule.adapter[2].weight.grad.abs().sum() > 0  # through the rate and the STE mask


def test_mmsup_with_a_fixed_fraction_adapts_the_largest_weights_of_each_layer():
    model, data = tiny()
    rule = rule_for(model, "mmsup", alpha=0.2, hidden=8, keep_init=0.5, keep=[0.5])
    theta = dict(model.named_parameters())
    x, y = data.support_x[0], data.support_y[0]
    got = adapt(model, rule, theta, x, y, 1)
    loss = nn.functional.cross_entropy(model(x), y)
    grads = dict(zip(theta, torch.autograd.grad(loss, list(theta.values())), strict=True))
    # layer "layer" = weight (12) and bias (3): the 7 largest of the 15 magnitudes adapt
    flat = torch.cat([theta["layer.weight"].detach().flatten(), theta["layer.bias"].detach()])
    kept = torch.zeros(15, dtype=torch.float64)
    kept[flat.abs().argsort()[8:]] = 1.0  # rank >= 1 - 0.5: ranks 8/15 .. 14/15
    for name, piece in zip(("layer.weight", "layer.bias"), kept.split([12, 3]), strict=True):
        expected = theta[name] - 0.2 * piece.view_as(theta[name]) * grads[name]
        torch.testing.assert_close(got[name], expected, rtol=0, atol=1e-15)


def test_mmsup_learned_fractions_depend_on_the_task_and_are_meta_learned():
    model, data = tiny()
    rule = rule_for(model, "mmsup", alpha=0.2, hidden=8, keep_init=0.5)
    torch.manual_seed(4)
    with torch.no_grad():
        rule.scorer[2].weight.normal_(0, 1.0)
    theta = dict(model.named_parameters())
    keeps = [rule.fractions(Task(model, theta, data.support_x[t], data.support_y[t]), theta[
        "layer.weight"]) for t in range(2)]  # fmt: skip
    assert not torch.equal(keeps[0], keeps[1])
    episodic.meta_train_step(model, rule, data, inner_steps=2, first_order=True)
    assert rule.scorer[2].weight.grad.abs().sum() > 0  # through the rank margin's sigmoid


def test_mmsup_refuses_a_wrong_number_of_fixed_fractions():
    model, _ = two_layer()
    with pytest.raises(ConfigError, match="method.keep: 3 fractions for 2 layers"):
        rule_for(model, "mmsup", alpha=0.2, hidden=8, keep_init=0.5, keep=[0.1, 0.2, 0.3])


def test_mmsup_fixed_fractions_have_nothing_to_meta_learn():
    model, _ = tiny()
    rule = rule_for(model, "mmsup", alpha=0.2, hidden=8, keep_init=0.5, keep=[0.5])
    assert list(rule.parameters()) == []


@pytest.mark.parametrize("outer", ["subnet", "all"])
def test_mmsup_outer_update_reaches_theta_through_the_subnet_only(outer):
    """Eq. 7 (``outer: subnet``): a task's first-order meta-gradient is the query gradient at
    phi_1 on the coordinates it adapted and zero elsewhere; ``outer: all`` is MAML's (the query
    gradient on every coordinate)."""
    model, data = tiny(tasks=1)
    rule = rule_for(model, "mmsup", alpha=0.2, hidden=8, keep_init=0.5, keep=[0.5], outer=outer)
    theta = dict(model.named_parameters())
    x, y, qx, qy = data.support_x[0], data.support_y[0], data.query_x[0], data.query_y[0]
    phi = adapt(model, rule, theta, x, y, 1)
    query = nn.functional.cross_entropy(torch.func.functional_call(model, phi, (qx,)), qy)
    got = dict(zip(theta, torch.autograd.grad(query, list(theta.values())), strict=True))
    # by hand: the kept set (as above) and the query gradient at phi_1, detached
    flat = torch.cat([theta["layer.weight"].detach().flatten(), theta["layer.bias"].detach()])
    kept = torch.zeros(15, dtype=torch.float64)
    kept[flat.abs().argsort()[8:]] = 1.0
    at_phi = {n: t.detach().requires_grad_() for n, t in phi.items()}
    loss = nn.functional.cross_entropy(torch.func.functional_call(model, at_phi, (qx,)), qy)
    g = dict(zip(at_phi, torch.autograd.grad(loss, list(at_phi.values())), strict=True))
    for name, piece in zip(("layer.weight", "layer.bias"), kept.split([12, 3]), strict=True):
        mask = (
            piece.view_as(theta[name])
            if outer == "subnet"
            else torch.ones_like(piece).view_as(theta[name])
        )
        torch.testing.assert_close(got[name], mask * g[name], rtol=0, atol=1e-15)
