"""Every rule reduces to a simpler one where it should, on conv4 in float64."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from synthetic import model_config, with_example
from wheretolearn.algorithms.episodic import query_logits
from wheretolearn.algorithms.inner_loop import adapt, inner_loss
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.models import build_model, head_names

K = 3


@pytest.fixture
def task():
    g = torch.Generator().manual_seed(0)
    sx = torch.randn(6, 1, 16, 16, generator=g, dtype=torch.float64)
    qx = torch.randn(9, 1, 16, 16, generator=g, dtype=torch.float64)
    return sx, torch.arange(3).repeat(2), qx, torch.arange(3).repeat(3)


def make(method, hidden=8, seed=0):
    torch.manual_seed(seed)
    model = build_model(model_config(hidden=hidden), channels=1, image_size=16, ways=3).double()
    return model, build_rule(with_example(method), model, head_names(model)).double()


def run(model, rule, task, first_order=True):
    """phi_K and the outer gradients of theta and of the rule's meta-parameters."""
    sx, sy, qx, qy = task
    phi = adapt(model, rule, dict(model.named_parameters()), sx, sy, K, first_order=first_order)
    F.cross_entropy(query_logits(model, phi, sx, qx), qy).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    meta = {n: p.grad.clone() for n, p in rule.named_parameters() if p.grad is not None}
    return {n: t.detach() for n, t in phi.items()}, grads, meta


def assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-13, msg=name)


def test_open_mask_is_first_order_maml(task):
    phi_s, g_s, _ = run(*make({"name": "sparse-maml", "alpha": 0.3, "init_shift": 50.0}), task)
    phi_m, g_m, _ = run(*make({"name": "maml", "alpha": 0.3}), task)
    assert_same(phi_s, phi_m)
    assert_same(g_s, g_m)


def test_closed_mask_leaves_theta_unchanged(task):
    model, rule = make({"name": "sparse-maml", "alpha": 0.3, "init_shift": -50.0})
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    phi, _, _ = run(model, rule, task)
    for name in theta:
        assert torch.equal(phi[name], theta[name]), name
    assert all(v == 1.0 for v in rule.sparsity().values())


@pytest.mark.parametrize("first_order", [True, False])
def test_meta_sgd_with_constant_rates_is_maml(task, first_order):
    method = {"name": "meta-sgd", "init": "constant", "alpha": 0.2}
    phi_s, g_s, _ = run(*make(method), task, first_order)
    phi_m, g_m, _ = run(*make({"name": "maml", "alpha": 0.2}), task, first_order)
    assert_same(phi_s, phi_m)
    assert_same(g_s, g_m)


def test_exp_maml_starts_as_maml(task):
    phi_e, g_e, _ = run(*make({"name": "exp-maml", "alpha": 0.2}), task)
    phi_m, g_m, _ = run(*make({"name": "maml", "alpha": 0.2}), task)
    for name in phi_m:  # exp(log(alpha)) equals alpha up to one rounding
        torch.testing.assert_close(phi_e[name], phi_m[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("method", "changes_head"), [("anil", True), ("boil", False)])
def test_anil_adapts_head_only_and_boil_body_only(task, method, changes_head):
    model, rule = make({"name": method, "alpha": 0.3})
    head = head_names(model)
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    phi, _, _ = run(model, rule, task)
    for name in theta:
        changed = not torch.equal(phi[name], theta[name])
        assert changed == ((name in head) == changes_head), name


def test_straight_through_mask_gradient_is_alpha_gout_times_sum_of_inner_gradients(task):
    """dL/dm = -alpha * g_out * sum_k g_in_k (Eq. 5 and Eq. 10), from an independent loop."""
    alpha = 0.3
    model, rule = make({"name": "sparse-maml", "alpha": alpha})
    sx, sy, qx, qy = task
    _, _, meta = run(model, rule, task)
    # independent recomputation with plain tensors and the mask frozen
    masks = {n: (rule.mask_logits[n.replace(".", "__")] >= 0).double() for n in rule.adapted}
    phi = {n: p.detach().clone() for n, p in model.named_parameters()}
    g_sum = {n: torch.zeros_like(p) for n, p in phi.items()}
    for _ in range(K):
        phi = {n: p.requires_grad_() for n, p in phi.items()}
        grads = torch.autograd.grad(inner_loss(model, phi, sx, sy), list(phi.values()))
        for (name, p), g in zip(list(phi.items()), grads, strict=True):
            g_sum[name] += g
            phi[name] = (p - alpha * masks[name] * g).detach()
    phi = {n: p.requires_grad_() for n, p in phi.items()}
    out = F.cross_entropy(query_logits(model, phi, sx, qx), qy)
    g_out = dict(zip(phi, torch.autograd.grad(out, list(phi.values())), strict=True))
    for name in rule.adapted:
        expected = -alpha * g_out[name] * g_sum[name]
        torch.testing.assert_close(
            meta[f"mask_logits.{name.replace('.', '__')}"],
            expected,
            rtol=1e-10,
            atol=1e-15,
            msg=name,
        )


def test_authors_half_straight_through_scales_the_mask_gradient(task):
    _, _, full = run(*make({"name": "sparse-maml", "alpha": 0.3}), task)
    _, _, half = run(*make({"name": "sparse-maml", "alpha": 0.3, "ste_scale": 0.5}), task)
    for name in full:
        torch.testing.assert_close(half[name], 0.5 * full[name], rtol=1e-12, atol=0)


def test_sparse_relu_starts_dense_and_a_dead_rate_still_gets_gradient(task):
    model, rule = make({"name": "sparse-relu-maml", "alpha": 0.1})
    assert all(v == 0.0 for v in rule.sparsity().values())
    with torch.no_grad():
        for rates in rule.rates.values():
            rates.fill_(-1.0)  # every rate dead
    phi, _, meta = run(model, rule, task)
    for name, p in model.named_parameters():
        assert torch.equal(phi[name], p.detach())
    assert all(g.abs().sum() > 0 for g in meta.values())  # identity backward: it can revive


def test_sparse_maml_plus_generates_conv_masks_and_learns_sigma(task):
    method = {"name": "sparse-maml-plus", "alpha": 0.2, "embedding_dim": 16}
    model, rule = make(method)
    conv = [n for n, p in model.named_parameters() if p.dim() == 4]
    assert rule.generated == conv
    assert not any(n.replace(".", "__") in rule.mask_logits for n in conv)
    _, _, meta = run(model, rule, task)
    for name in ("sigma", "mu", "generator.weight", "generator.bias"):
        assert meta[name].abs().sum() > 0, name
    torch.manual_seed(1)
    first = rule.begin()
    torch.manual_seed(2)
    second = rule.begin()
    assert any(not torch.equal(first[n], second[n]) for n in conv)  # stochastic masks


def test_mask_initialisation_centred_with_shift():
    torch.manual_seed(0)
    model, rule = make({"name": "sparse-maml", "init_shift": 0.0}, hidden=32)
    levels = rule.sparsity()
    big = [n for n, p in model.named_parameters() if p.numel() > 1000]
    assert all(0.4 < levels[n] < 0.6 for n in big)
    for logits in rule.mask_logits.values():
        assert abs(float(logits.detach().mean())) < 1e-6
    _, shifted = make({"name": "sparse-maml", "init_shift": 0.05}, hidden=32)
    assert sum(shifted.sparsity().values()) < sum(levels.values())
