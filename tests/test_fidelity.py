"""Where our few-shot code and the authors' could differ, the step each takes, on tiny cases.

The reference here is the authors' formulation written out in the test: the binary mask
``0.5 * (sign(m) + 1)`` with an identity backward through ``sign`` (their ``BinaryLayer``),
the clamp of theta's outer gradients only (their ``clamp_outer_gradients``).
"""

from __future__ import annotations

import pytest
import torch

from run_synthetic import PARAMS
from synthetic import SyntheticSource, model_config
from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import build_rule
from wheretolearn.errors import ConfigError
from wheretolearn.experiments.fewshot.compose import cell, compose
from wheretolearn.experiments.fewshot.config import parse
from wheretolearn.experiments.fewshot.run import train_epoch
from wheretolearn.experiments.fewshot.setup import build_setup
from wheretolearn.models import build_model, head_names
from wheretolearn.params import deep_merge


class AuthorsSign(torch.autograd.Function):
    """``sign`` forward, identity backward: the authors' straight-through binary layer."""

    @staticmethod
    def forward(ctx, x):
        return torch.sign(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def _authors_mask(logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (AuthorsSign.apply(logits) + 1)


def _plus_rule(ste_scale: float):
    """The paper run's sparse-MAML+ options on a tiny conv4 (E = 4 instead of 1600)."""
    method = dict(compose(cell("sparse-maml-plus", 5), "paper")["method"])
    method.update(embedding_dim=4, ste_scale=ste_scale)
    torch.manual_seed(0)
    model = build_model(model_config(hidden=4), channels=1, image_size=16, ways=3).double()
    return build_rule(method, model, head_names(model)).double()


def _loss(rule, weights, authors: bool):
    """``sum <modulation, weights>`` through our mask, or through the authors' (same z)."""
    torch.manual_seed(7)
    if not authors:
        return sum((m * weights[n]).sum() for n, m in rule.begin().items())
    logits = {n: rule.mask_logits[param_key(n)] for n in rule.masked_names()}
    logits.update(rule.generated_logits())
    alpha = rule.options.alpha
    return sum((alpha * _authors_mask(logits[n]) * weights[n]).sum() for n in rule.adapted)


def _moved(rule, weights, authors: bool) -> dict[str, torch.Tensor]:
    """How far one step of the run's meta optimiser (SGD with Nesterov at the authors'
    mask_lr 0.0075) moves each meta-parameter; the rule is restored afterwards."""
    before = {n: p.detach().clone() for n, p in rule.named_parameters()}
    opt = torch.optim.SGD(rule.parameters(), lr=0.0075, momentum=0.9, nesterov=True)
    opt.zero_grad()
    _loss(rule, weights, authors).backward()
    opt.step()
    moved = {n: p.detach() - before[n] for n, p in rule.named_parameters()}
    with torch.no_grad():
        for n, p in rule.named_parameters():
            p.copy_(before[n])
    return moved


def _weights(rule):
    torch.manual_seed(1)
    return {n: torch.randn(rule.shapes[n], dtype=torch.float64) for n in rule.adapted}


def test_sparse_maml_plus_takes_the_authors_mask_and_generator_step():
    assert compose(cell("sparse-maml-plus", 5), "paper")["method"]["ste_scale"] == 0.5
    rule = _plus_rule(ste_scale=0.5)  # what params/fewshot/runs.yaml sets for sparse-maml-plus
    weights = _weights(rule)
    with torch.no_grad():  # the same forward: no logit sits exactly on 0
        torch.testing.assert_close(_loss(rule, weights, False), _loss(rule, weights, True))
    ours, theirs = _moved(rule, weights, False), _moved(rule, weights, True)
    assert {"generator.weight", "generator.bias", "sigma", "mu"} <= set(ours)
    assert any(name.startswith("mask_logits.") for name in ours)  # the directly learned masks
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=1e-15)
    assert ours["generator.weight"].abs().max() > 1e-6  # the step is not vacuous


def test_eq5s_factor_one_would_double_the_authors_sgd_step():
    rule = _plus_rule(ste_scale=1.0)
    weights = _weights(rule)
    ours, theirs = _moved(rule, weights, False), _moved(rule, weights, True)
    torch.testing.assert_close(ours["generator.weight"], 2 * theirs["generator.weight"])


def test_a_constant_mask_init_on_the_threshold_is_refused():
    torch.manual_seed(0)
    model = build_model(model_config(hidden=4), channels=1, image_size=16, ways=3)
    method = {"name": "sparse-maml", "alpha": 0.1, "init_shift": 0.0, "ste_scale": 1.0}
    with pytest.raises(ConfigError, match="method.init_shift: 0 with init: constant"):
        build_rule({**method, "init": "constant"}, model, head_names(model))
    rule = build_rule({**method, "init_shift": 0.1, "init": "constant"}, model, head_names(model))
    assert all(bool((m > 0).all()) for m in rule.begin().values())


@pytest.mark.parametrize("scope", ["theta", "theta+meta"])
def test_clip_clamps_theta_and_the_meta_parameters_only_when_asked(scope):
    """Plain SGD at lr 1 (Nesterov, momentum 0.9: the first step is 1.9 g): an element moves by
    at most 1.9 * clip exactly where its gradient was clamped."""
    bound, lr = 1e-4, 1.0
    sgd = {"name": "sgd-nesterov", "lr": lr, "momentum": 0.9}
    train = {"clip": bound, "clip_scope": scope, "batches_per_epoch": 1, "dtype": "float64"}
    train.update(theta_optimizer=sgd, meta_optimizer=sgd)
    cfg = parse(deep_merge(PARAMS, {"train": train}))
    source = SyntheticSource()
    setup = build_setup(cfg, source.info, seed=0)
    theta0 = [p.detach().clone() for p in setup.model.parameters()]
    meta0 = [p.detach().clone() for p in setup.rule.parameters()]
    train_epoch(setup, source, seed=0, epoch=0)
    limit = 1.9 * lr * bound * (1 + 1e-9)
    theta = zip(setup.model.parameters(), theta0, strict=True)
    meta = zip(setup.rule.parameters(), meta0, strict=True)
    theta_moves = [float((p - q).abs().max()) for p, q in theta]
    meta_moves = [float((p - q).abs().max()) for p, q in meta]
    assert max(theta_moves) <= limit
    assert max(theta_moves) > limit / 2  # clamped, not zero
    if scope == "theta":
        assert max(meta_moves) > 10 * limit  # the mask logits were not clamped
    else:
        assert max(meta_moves) <= limit
