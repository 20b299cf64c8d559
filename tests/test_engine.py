"""The fast paths of the engine give the per-task loop's numbers (float64; float32 short loops),
for every registered update rule (each with its ``EXAMPLE`` options): a new rule file is checked
here without editing a list."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from synthetic import model_config, with_example
from wheretolearn.algorithms import episodic
from wheretolearn.algorithms.engine import PLANS, EnginePlan, using_plan
from wheretolearn.algorithms.inner_loop import adapt, adapt_detached, inner_step
from wheretolearn.algorithms.rules.base import RULES, Task, build_rule
from wheretolearn.algorithms.rules.maml import MAML
from wheretolearn.models import build_model, head_names

METHODS = [
    {"name": name, **RULES.get(name).EXAMPLE}
    for name in RULES.names()
    if not RULES.get(name).cross_task  # those run in lockstep: tests/test_rule_contract.py
]
SPARSE = {"name": "sparse-maml", **RULES.get("sparse-maml").EXAMPLE}


def make(method, dtype=torch.float64, batchnorm="transductive", seed=0):
    torch.manual_seed(seed)
    cfg = model_config(hidden=8, batchnorm=batchnorm)
    model = build_model(cfg, channels=1, image_size=16, ways=3).to(dtype)
    return model, build_rule(with_example(method), model, head_names(model)).to(dtype)


def tasks(count, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(
        support_x=torch.randn(count, 6, 1, 16, 16, generator=g, dtype=dtype),
        support_y=torch.arange(3).repeat(2).expand(count, 6).clone(),
        query_x=torch.randn(count, 9, 1, 16, 16, generator=g, dtype=dtype),
        query_y=torch.arange(3).repeat(3).expand(count, 9).clone(),
    )


def gradients(model, rule):
    out = {f"theta.{n}": p.grad.clone() for n, p in model.named_parameters()}
    meta = rule.named_parameters()
    out.update({f"rule.{n}": p.grad.clone() for n, p in meta if p.grad is not None})
    return out


def train_both(method, steps, dtype=torch.float64, batchnorm="transductive"):
    results = []
    for run in (
        lambda m, r, b: episodic.meta_train_loop(m, r, b, steps, True, "sum", "", False),
        lambda m, r, b: episodic.meta_train_loop(m, r, b, steps, True, "sum", "", True),
        lambda m, r, b: episodic.meta_train_vmap(m, r, b, steps, "mean", ""),
    ):
        model, rule = make(method, dtype, batchnorm)
        result = run(model, rule, tasks(3, dtype))
        results.append((result, gradients(model, rule)))
    return results


def assert_close_dicts(a, b, **tol):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], **tol, msg=name)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m["name"])
@pytest.mark.parametrize("batchnorm", ["transductive", "non-transductive"])
def test_fast_training_paths_match_loop_float64(method, batchnorm):
    (loop, g_loop), (cl, g_cl), (vm, g_vm) = train_both(method, 5, batchnorm=batchnorm)
    assert_close_dicts(g_loop, g_cl, rtol=0, atol=1e-12)
    assert cl.loss == pytest.approx(loop.loss, abs=1e-12)
    # the vmapped run averaged the outer loss over 3 tasks: its gradients are a third
    assert_close_dicts({n: g / 3 for n, g in g_loop.items()}, g_vm, rtol=0, atol=1e-12)
    assert vm.loss == pytest.approx(loop.loss / 3, abs=1e-12)
    assert vm.accuracy == pytest.approx(loop.accuracy, abs=1e-12)


def test_fast_training_paths_match_loop_float32_short():
    (_, g_loop), (_, g_cl), (_, g_vm) = train_both(SPARSE, 2, dtype=torch.float32)
    assert_close_dicts(g_loop, g_cl, rtol=1e-4, atol=1e-5)
    assert_close_dicts({n: g / 3 for n, g in g_loop.items()}, g_vm, rtol=1e-4, atol=1e-5)


def adapt_outer_gradients(method, adapt_fn, dtype=torch.float64, steps=5):
    """phi_K of one task and the outer gradients of theta and the rule's meta-parameters."""
    model, rule = make(method, dtype)
    data = tasks(1, dtype)
    sx, sy, qx, qy = (getattr(data, f)[0] for f in ("support_x", "support_y", "query_x", "query_y"))
    phi = adapt_fn(model, rule, dict(model.named_parameters()), sx, sy, steps)
    torch.nn.functional.cross_entropy(episodic.query_logits(model, phi, sx, qx), qy).backward()
    return {n: t.detach() for n, t in phi.items()}, gradients(model, rule)


def step_by_step(model, rule, theta, x, y, steps):
    """The textbook first-order loop: every step an autograd node per tensor."""
    modulation, phi = rule.begin(Task(model, theta, x, y)), dict(theta)
    for k in range(steps):
        phi = inner_step(model, rule, phi, x, y, k, modulation, first_order=True)
    return phi


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m["name"])
def test_first_order_adaptation_from_the_gradient_sum_matches_step_by_step(method):
    """adapt() runs first-order steps without a graph and rebuilds phi_K = theta - m * sum g."""
    phi, grads = adapt_outer_gradients(method, adapt)
    phi_ref, grads_ref = adapt_outer_gradients(method, step_by_step)
    assert_close_dicts(phi, phi_ref, rtol=0, atol=1e-13)
    assert_close_dicts(grads, grads_ref, rtol=0, atol=1e-13)
    _, rule = make(method)
    # a rule with meta-parameters gets their first-order gradients (BOIL's body and ANIL's
    # head: only the rules whose meta-parameters the adapted tensors reach)
    assert any(n.startswith("rule.") for n in grads) == bool(list(rule.parameters()))


@pytest.mark.parametrize("method", [METHODS[0], SPARSE], ids=lambda m: m["name"])
def test_compiled_steps_give_the_eager_numbers(method):
    """A plan that compiles the step gradient (here with the aot_eager backend, which traces
    and runs the same operators without generating code) adapts and evaluates as eagerly."""
    eager = adapt_outer_gradients(method, adapt)
    plan = EnginePlan(True, False, 1, "", compile_mode="default", compile_backend="aot_eager")
    with using_plan("cpu", plan):
        compiled = adapt_outer_gradients(method, adapt)
    for ours, theirs in zip(compiled, eager, strict=True):
        assert_close_dicts(ours, theirs, rtol=0, atol=1e-13)
    accuracies = evaluate_with(plan, method, count=2, steps=3)
    assert accuracies == evaluate_with(PLANS["cpu"], method, count=2, steps=3)


class SignStep(MAML):
    """A rule with its own (non-linear) step: adapt() must take it step by step."""

    def step(self, k, name, phi, grad, modulation):
        return phi - modulation[name] * torch.sign(grad) * (k + 1)


def test_a_rule_with_its_own_step_keeps_it():
    def fresh():
        model, maml = make({"name": "maml", "alpha": 0.01})
        rule = SignStep(dict(model.named_parameters()), set(), maml.options).double()
        data = tasks(1)
        return model, rule, dict(model.named_parameters()), data.support_x[0], data.support_y[0]

    phi_ref = {n: t.detach() for n, t in step_by_step(*fresh(), 3).items()}
    for adapt_fn in (adapt, adapt_detached):
        assert_close_dicts(adapt_fn(*fresh(), 3), phi_ref, rtol=0, atol=1e-15)


def evaluate_with(plan, method, count=5, steps=6, dtype=torch.float64, batch_size=1):
    with using_plan("cpu", plan):
        model, rule = make(method, dtype)
        data = tasks(count, dtype)
        batches = [
            SimpleNamespace(**{k: v[i : i + batch_size] for k, v in vars(data).items()})
            for i in range(0, count, batch_size)
        ]
        torch.manual_seed(7)
        return episodic.evaluate_tasks(model, rule, batches, steps)


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m["name"])
def test_batched_evaluation_matches_per_task_float64(method):
    reference = evaluate_with(EnginePlan(False, False, 1, ""), method)
    assert len(reference) == 5
    for plan in (EnginePlan(True, False, 1, ""), EnginePlan(False, True, 2, "")):
        assert evaluate_with(plan, method) == reference
    assert evaluate_with(EnginePlan(False, True, 3, ""), method, batch_size=2) == reference


def test_batched_evaluation_matches_per_task_float32_short():
    method = SPARSE
    reference = evaluate_with(EnginePlan(False, False, 1, ""), method, steps=2, dtype=torch.float32)
    batched = evaluate_with(EnginePlan(False, True, 5, ""), method, steps=2, dtype=torch.float32)
    assert batched == reference


def test_batched_phi_matches_per_task_phi_float64():
    from wheretolearn.algorithms.batched import adapt_tasks, draw_modulations

    model, rule = make(SPARSE)
    data = tasks(3)
    theta = {n: p.detach() for n, p in model.named_parameters()}
    with torch.no_grad():
        drawn = draw_modulations(rule, model, theta, data.support_x, data.support_y)
        phi = adapt_tasks(model, rule, theta, data.support_x, data.support_y, 8, drawn)
    for t in range(3):
        single = adapt_detached(model, rule, theta, data.support_x[t], data.support_y[t], 8)
        for name in single:
            torch.testing.assert_close(phi[name][t], single[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_last_images_make_every_layer_channels_last(channels):
    """One-channel images count as channels-last contiguous in PyTorch while keeping NCHW
    strides; the helper must still give the first convolution channels-last input, or NCHW
    propagates through the network (and CPU max-pooling is ~20x slower there)."""
    from wheretolearn.algorithms.engine import channels_last

    x = torch.randn(5, channels, 12, 12)
    y = channels_last(x)
    assert torch.equal(x, y) and y.stride() == (144 * channels, 1, 12 * channels, channels)
    assert channels_last(y) is y
    conv = torch.nn.Conv2d(channels, 4, 3, padding=1)
    out = conv(y)
    assert out.is_contiguous(memory_format=torch.channels_last) and out.stride(1) == 1
    torch.testing.assert_close(out, conv(x))


def test_episode_loading_follows_the_device_plan_unless_the_params_say():
    from dataclasses import replace

    from wheretolearn.data.config import DataConfig
    from wheretolearn.data.sources import EpisodeSource

    data = DataConfig(dataset="omniglot-small", ways=5, shots=1, queries=15)
    assert data.num_workers is None
    for device in ("cpu", "cuda"):
        source = EpisodeSource(data, device=device)
        plan = PLANS[device]
        assert (source.num_workers, source.pin_memory) == (plan.loader_workers, plan.pin_memory)
    assert EpisodeSource(replace(data, num_workers=3), device="cpu").num_workers == 3
