"""The update-rule protocol's contract, checked for every registered rule (each runs with its
``EXAMPLE`` options, so a new rule file is checked without editing a list), and the lockstep
engine of rules that share state across the tasks of a meta-batch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from synthetic import model_config, tiny
from wheretolearn.algorithms import episodic
from wheretolearn.algorithms.batched import accuracies_tasks
from wheretolearn.algorithms.inner_loop import adapt, adapt_lockstep
from wheretolearn.algorithms.rules.base import RULES, Task, build_rule, method_options
from wheretolearn.algorithms.rules.maml import MAML
from wheretolearn.checkpoint import load, save_atomic
from wheretolearn.models import build_model, head_names
from wheretolearn.validate import resolved

NAMES = RULES.names()


def make(name, seed=0):
    torch.manual_seed(seed)
    model = build_model(model_config(hidden=8), channels=1, image_size=16, ways=3).double()
    rule = build_rule({"name": name, **RULES.get(name).EXAMPLE}, model, head_names(model))
    return model, rule.double()


def test_the_registry_finds_every_rule_module_without_a_list():
    assert {"maml", "anil", "boil", "meta-sgd", "exp-maml", "sparse-maml", "sparse-relu-maml",
            "sparse-maml-plus", "la-maml"} <= set(NAMES)  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_example_options_validate_and_record_in_full(name):
    method = {"name": name, **RULES.get(name).EXAMPLE}
    options = method_options(method)
    recorded = resolved(method, options)
    assert method_options(recorded) == options  # what a run records parses back the same
    assert set(recorded) - {"name"} == {f for f in vars(options)}


@pytest.mark.parametrize("name", NAMES)
def test_sparsity_is_the_share_of_zero_modulation(name):
    model, rule = make(name)
    with torch.no_grad():  # sparse-maml-plus reports its mean mask: compare the same draw
        if hasattr(rule, "noise"):
            rule.noise = False
        modulation = rule.begin()
    report = rule.sparsity()
    assert set(report) == {n for n, _ in model.named_parameters()}
    if rule.gated:  # its gates come per step from a task summary: a report of its own
        assert all(0.0 <= v <= 1.0 for v in report.values())
        return
    for tensor, shape in rule.shapes.items():
        if tensor not in rule.adapted:
            assert report[tensor] == 1.0, tensor  # never updated
            continue
        value = torch.as_tensor(modulation[tensor]).detach()
        value = value if rule.per_step else value.expand(shape)  # per step: a share of steps
        assert report[tensor] == pytest.approx(float((value == 0).double().mean())), tensor


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip_restores_the_modulation(name, tmp_path):
    _, trained = make(name, seed=0)
    with torch.no_grad():
        for p in trained.parameters():  # meta-learned values, not the initial ones
            p.add_(0.01 * torch.randn_like(p))
    save_atomic({"rule": trained.state_dict()}, tmp_path / "rule.pt")
    _, fresh = make(name, seed=1)
    fresh.load_state_dict(load(tmp_path / "rule.pt")["rule"])
    torch.manual_seed(5)
    ours = trained.begin()
    torch.manual_seed(5)
    theirs = fresh.begin()
    assert set(ours) == set(theirs)
    for key in ours:  # each adapted tensor's modulation, or a gated rule's task summary
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(theirs[key]))


# ---- rules that share state across the tasks of a meta-batch ----------------------------


class Independent(MAML):
    """MAML declared cross-task: the lockstep engine with the default batch_update."""

    cross_task = True
    rule_name = "independent"


class Shared(MAML):
    """Each task steps along the mean of all tasks' gradients: phi_i - alpha * mean_j g_j."""

    cross_task = True
    rule_name = "shared"

    def batch_update(self, k, phis, grads, modulations, state):
        mean = {n: sum(g[n] for g in grads) / len(grads) for n in self.adapted}
        state.append(k)
        return [self.update(k, p, mean, m) for p, m in zip(phis, modulations, strict=True)]

    def begin_batch(self, tasks):
        return []

    def end_batch(self, state, *, training):
        self.seen = (list(state), training)


def rule_of(cls, model, alpha=0.5):
    return cls(dict(model.named_parameters()), set(), MAML.Options(alpha=alpha)).double()


def test_lockstep_without_sharing_equals_the_independent_loop():
    model, data = tiny()
    episodic.meta_train_loop(model, rule_of(MAML, model), data, 3, False, "sum", "", False)
    loop = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    episodic.meta_train_step(model, rule_of(Independent, model), data, inner_steps=3,
                             first_order=False)  # fmt: skip
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, loop[n], rtol=0, atol=1e-14)


def test_a_shared_step_is_the_hand_derived_mean_step():
    model, data = tiny()
    rule = rule_of(Shared, model)
    theta = dict(model.named_parameters())
    support = [(data.support_x[t], data.support_y[t]) for t in range(2)]
    phis = adapt_lockstep(model, rule, theta, support, 1, first_order=True)
    grads = []
    for x, y in support:  # by hand: each task's gradient at theta, then their mean
        loss = nn.functional.cross_entropy(model(x), y)
        grads.append(torch.autograd.grad(loss, list(theta.values())))
    for i in range(2):
        for (n, t), g0, g1 in zip(theta.items(), *grads, strict=True):
            torch.testing.assert_close(phis[i][n], t - 0.5 * (g0 + g1) / 2, rtol=0, atol=1e-15)
    assert rule.seen == ([0], True)  # the batch state saw step 0 and was closed for training


def test_the_graph_runs_across_tasks_in_lockstep():
    """Task 0's outer loss reaches theta through task 1's support data (the shared mean)."""
    model, data = tiny()
    rule = rule_of(Shared, model)
    x1 = data.support_x[1].clone().requires_grad_(True)
    support = [(data.support_x[0], data.support_y[0]), (x1, data.support_y[1])]
    phis = adapt_lockstep(model, rule, dict(model.named_parameters()), support, 2,
                          first_order=False)  # fmt: skip
    loss0 = nn.functional.cross_entropy(
        torch.func.functional_call(model, phis[0], (data.query_x[0],)), data.query_y[0]
    )
    (grad_x1,) = torch.autograd.grad(loss0, [x1])
    assert grad_x1.abs().sum() > 0


@pytest.mark.parametrize(
    "path",
    [
        lambda m, r, d: episodic.meta_train_vmap(m, r, d, 2, "sum", ""),
        lambda m, r, d: episodic.meta_train_loop(m, r, d, 2, True, "sum", "", False),
        lambda m, r, d: adapt(m, r, dict(m.named_parameters()), d.support_x[0], d.support_y[0], 2),
        lambda m, r, d: accuracies_tasks(m, r, d.support_x, d.support_y, d.query_x, d.query_y, 2),
    ],
    ids=["vmap", "per-task backward", "adapt one task", "grouped evaluation"],
)
def test_paths_that_assume_independent_tasks_refuse_a_cross_task_rule(path):
    model, data = tiny()
    with pytest.raises(ValueError, match="shared shares state across the tasks.*lockstep"):
        path(model, rule_of(Shared, model), data)


def test_a_cross_task_rule_is_evaluated_task_by_task_in_lockstep():
    model, data = tiny()
    rule = rule_of(Shared, model)
    batches = [SimpleNamespace(**{k: v[i : i + 1] for k, v in vars(data).items()}) for i in (0, 1)]
    accuracies = episodic.evaluate_tasks(model, rule, batches, 2)
    assert len(accuracies) == 2 and rule.seen == ([0, 1], False)


def test_a_task_conditioned_rule_sees_the_task():
    """``begin(task)`` gets the support set, the starting weights and their gradients."""

    class PerTask(MAML):
        def begin(self, task: Task | None = None):
            self.seen = task
            scale = 1.0 if task is None else float(task.support_x.abs().mean())
            return {n: self.options.alpha * scale for n in self.adapted}

    model, data = tiny()
    rule = rule_of(PerTask, model)
    theta = dict(model.named_parameters())
    x, y = data.support_x[0], data.support_y[0]
    adapt(model, rule, theta, x, y, 1)
    assert torch.equal(rule.seen.support_x, x) and rule.seen.theta is theta
    loss = nn.functional.cross_entropy(model(x), y)
    by_hand = torch.autograd.grad(loss, list(theta.values()))
    for (n, _), g in zip(theta.items(), by_hand, strict=True):
        torch.testing.assert_close(rule.seen.gradients()[n], g, rtol=0, atol=1e-15)
    assert rule.begin(Task(model, theta, x, y)) != rule.begin(Task(model, theta, 2 * x, y))
