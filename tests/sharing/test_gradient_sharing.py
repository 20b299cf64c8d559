"""Gradient sharing: each variant's inner step by hand (two tasks, two steps, float64), the
running means kept for meta-test, the meta-gradient's reach, and the engine's refusals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.func import functional_call

from synthetic import tiny
from wheretolearn.algorithms import episodic
from wheretolearn.algorithms.batched import accuracies_tasks
from wheretolearn.algorithms.inner_loop import adapt_lockstep
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.errors import ConfigError


def sharing(model, base=None, **options):
    method = {"name": "gradient-sharing", "base": base or {"name": "maml", "alpha": 0.5},
              "steps": 2, "momentum_init": 0.3, "share_init": -0.4, **options}  # fmt: skip
    rule = build_rule(method, model, set()).double()
    with torch.no_grad():  # distinct values per step (and tensor), a non-zero running mean
        rule.momentum.copy_(torch.linspace(-0.5, 0.7, rule.momentum.numel()).view_as(rule.momentum))
        rule.share.copy_(torch.linspace(0.2, -0.9, rule.share.numel()).view_as(rule.share))
        for i, name in enumerate(rule.adapted):
            torch.manual_seed(10 + i)
            rule.running_mean(name).copy_(torch.randn_like(rule.running_mean(name)))
    return rule


def unit(g):
    return g / g.norm()


def by_hand(model, rule, data, normalise, rescale, per_layer, rates=None):
    """Two steps of both tasks, written out: the expected phis and the new running means."""
    names = [n for n, _ in model.named_parameters()]
    phis = [dict(model.named_parameters()) for _ in range(2)]
    means = {n: rule.running_mean(n).detach().clone() for n in names}
    for k in range(2):
        grads = []
        for t in range(2):
            loss = nn.functional.cross_entropy(
                functional_call(model, phis[t], (data.support_x[t],)), data.support_y[t]
            )
            values = torch.autograd.grad(loss, list(phis[t].values()))
            grads.append(dict(zip(names, values, strict=True)))
        for j, n in enumerate(names):
            col = j if per_layer else 0
            g0, g1 = grads[0][n], grads[1][n]
            each = normalise == "each"
            mean = (unit(g0) + unit(g1)) / 2 if each else unit((g0 + g1) / 2)
            if rescale:
                mean = mean * (g0.norm() + g1.norm()) / 2
            a = torch.sigmoid(rule.momentum[k, col]).detach()
            means[n][k] = (1 - a) * means[n][k] + a * mean
            b = torch.sigmoid(rule.share[k, col]).detach()
            for t, g in enumerate((g0, g1)):
                step = (1 - b) * g + b * means[n][k]
                rate = 0.5 if rates is None else rates[n]
                phis[t][n] = phis[t][n] - rate * step
    return phis, means


VARIANTS = [
    {"normalise": "each", "rescale": True, "per_layer": False},
    {"normalise": "mean", "rescale": True, "per_layer": False},
    {"normalise": "each", "rescale": False, "per_layer": False},
    {"normalise": "mean", "rescale": False, "per_layer": True},
]


def close(got, expected):
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)  # float64: norms, sums


def lockstep_matches(model, rule, data, expected):
    """Two lockstep steps of both tasks give the phis written out by hand."""
    support = [(data.support_x[t], data.support_y[t]) for t in range(2)]
    phis = adapt_lockstep(model, rule, dict(model.named_parameters()), support, 2)
    for t in range(2):
        for n in rule.adapted:
            close(phis[t][n], expected[t][n])


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_each_variant_steps_as_written_out_by_hand(variant):
    model, data = tiny()
    rule = sharing(model, **variant)
    expected, means = by_hand(model, rule, data, **variant)
    lockstep_matches(model, rule, data, expected)
    for n in rule.adapted:  # written after a training meta-batch: kept for meta-test
        close(rule.running_mean(n), means[n])


def test_meta_sgd_as_base_steps_with_its_elementwise_rates():
    model, data = tiny()
    rule = sharing(model, base={"name": "meta-sgd", "init": "uniform", "low": 0.1, "high": 0.9})
    rates = {n: rule.base.rates[n.replace(".", "__")].detach() for n in rule.adapted}
    expected, _ = by_hand(model, rule, data, "each", True, False, rates=rates)
    lockstep_matches(model, rule, data, expected)


def test_evaluation_mixes_the_task_in_without_writing_the_running_means():
    model, data = tiny()
    rule = sharing(model)
    before = {n: rule.running_mean(n).clone() for n in rule.adapted}
    batches = [SimpleNamespace(**{k: v[i : i + 1] for k, v in vars(data).items()}) for i in (0, 1)]
    episodic.evaluate_tasks(model, rule, batches, 2)
    for n in rule.adapted:
        assert torch.equal(rule.running_mean(n), before[n])


def outer_gradients(detach_mean, first_order):
    model, data = tiny()
    rule = sharing(model, detach_mean=detach_mean)
    episodic.meta_train_step(model, rule, data, inner_steps=2, first_order=first_order)
    params = [*model.parameters(), *rule.parameters()]
    return [p.grad.clone() for p in params]


def test_detaching_the_batch_mean_changes_only_the_second_order_meta_gradient():
    for kept, detached in zip(
        outer_gradients(False, True), outer_gradients(True, True), strict=True
    ):
        torch.testing.assert_close(kept, detached, rtol=0, atol=1e-14)  # first order: same
    second = zip(outer_gradients(False, False), outer_gradients(True, False), strict=True)
    assert max(float((a - b).abs().max()) for a, b in second) > 1e-6


def test_the_momentum_and_share_are_meta_learned():
    model, data = tiny()
    rule = sharing(model)
    episodic.meta_train_step(model, rule, data, inner_steps=2, first_order=True)
    assert rule.momentum.grad.abs().min() > 0 and rule.share.grad.abs().min() > 0


@pytest.mark.parametrize(
    "path",
    [
        lambda m, r, d: episodic.meta_train_vmap(m, r, d, 2, "sum", ""),
        lambda m, r, d: accuracies_tasks(m, r, d.support_x, d.support_y, d.query_x, d.query_y, 2),
    ],
    ids=["vmap group", "grouped evaluation"],
)
def test_the_engine_refuses_vmap_groups_and_grouped_evaluation(path):
    model, data = tiny()
    with pytest.raises(ValueError, match="gradient-sharing shares state across the tasks"):
        path(model, sharing(model), data)


def test_a_base_that_shares_already_is_refused():
    model, _ = tiny()
    with pytest.raises(ConfigError, match="method.base: gradient-sharing already shares"):
        sharing(model, base={"name": "gradient-sharing", "base": {"name": "maml", "alpha": 0.1},
                             "steps": 2, "momentum_init": 0.0, "share_init": 0.0})  # fmt: skip


def test_too_few_steps_stop_with_the_key():
    model, data = tiny()
    support = [(data.support_x[t], data.support_y[t]) for t in range(2)]
    with pytest.raises(ValueError, match="method.steps must cover"):
        adapt_lockstep(model, sharing(model), dict(model.named_parameters()), support, 3)
