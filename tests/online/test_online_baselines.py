"""Online Adam (the authors' online_sgd): theta predicts the batch first, then learns it; no
detector, no buffer, no rule; it learns a stream; a kill mid-stream resumes bit for bit.
Fine-tuning: MAML pre-training on tasks of one pool (disjoint support and query, seeded, the
query loss falls), then online Adam; a resumed run does not pre-train again."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from online_fixtures import SIZE, mode, stream
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.online.baselines import OnlineSupervised
from wheretolearn.algorithms.online.run import run_online
from wheretolearn.checkpoint import load, save_atomic
from wheretolearn.errors import ConfigError
from wheretolearn.experiments.online.config import parse
from wheretolearn.models.conv4 import Conv4


def baseline(*, lr=0.01, steps=1, optim=torch.optim.Adam, seed=0):
    torch.manual_seed(seed)
    model = Conv4(1, 10, SIZE, hidden=4)
    return OnlineSupervised(model, optim(model.parameters(), lr=lr), steps)


def test_the_score_is_before_the_step_and_the_step_is_sgd_on_that_batch():
    """With plain SGD the learner's update is theta - lr * grad CE(theta, B_t), taken once per
    step after the score, which is theta's accuracy on B_t before any step on it."""
    ln, batch = baseline(lr=0.1, optim=torch.optim.SGD), stream(steps=2, seed=1).batch(0)
    theta = {n: p.detach().clone().requires_grad_() for n, p in ln.model.named_parameters()}
    logits = functional_call(ln.model, theta, (batch.x,))
    loss = F.cross_entropy(logits, batch.y)
    grads = dict(zip(theta, torch.autograd.grad(loss, list(theta.values())), strict=True))
    accuracy = float((logits.argmax(-1) == batch.y).float().mean())
    record = ln.observe(batch.x, batch.y)
    assert record.accuracy == pytest.approx(accuracy) and record.loss_before == pytest.approx(
        loss.item()
    )
    assert not record.detected and record.updated
    for name, p in ln.model.named_parameters():
        torch.testing.assert_close(p.detach(), theta[name].detach() - 0.1 * grads[name])


def test_steps_take_that_many_optimiser_steps_on_the_batch():
    one, three = baseline(optim=torch.optim.SGD, lr=0.05), baseline(optim=torch.optim.SGD,
                                                                     lr=0.05, steps=3)  # fmt: skip
    batch = stream(steps=2, seed=2).batch(0)
    for _ in range(3):
        one.observe(batch.x, batch.y)
    three.observe(batch.x, batch.y)
    for a, b in zip(one.model.parameters(), three.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_online_adam_learns_a_stable_stream_without_detecting():
    out = run_online(baseline(lr=0.01), stream(steps=60, p=0.99, seed=3))
    metrics = out["metrics"]
    assert metrics["accuracy"] > 30 and metrics["detections"] == 0 and out["trace"] == []


def test_a_kill_mid_stream_resumes_bit_for_bit(tmp_path):
    def run(**kw):
        ln = baseline(seed=kw.pop("seed", 0))
        return ln, run_online(ln, stream(steps=12, p=0.8, seed=4), **kw)

    full, expected = run()
    path = tmp_path / "last.pt"

    def kill(batch, record):
        if batch.step == 9:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run(checkpoint_every=4, on_step=kill, on_checkpoint=lambda s: save_atomic(s, path))
    resumed, out = run(seed=5, state=load(path))
    assert out == expected
    for a, b in zip(resumed.model.state_dict().values(), full.model.state_dict().values(),
                    strict=True):  # fmt: skip
        assert torch.equal(a, b)


def test_the_baseline_learner_refuses_a_rule_and_c_maml_needs_one(tmp_path):
    from wheretolearn.experiments.online.compose import compose

    data = compose("online-adam/p0.9", "smoke")
    assert data["learner"] == {"name": "online-adam", "steps": 1} and data["method"] is None
    assert parse(data).train.theta_optimizer.lr == 0.001
    with pytest.raises(ConfigError, match="no update rule"):
        parse({**data, "method": {"name": "maml", "alpha": 0.1}})
    cmaml = compose("c-maml-fixed/p0.9", "smoke")
    with pytest.raises(ConfigError, match="C-MAML needs an update rule"):
        parse({**cmaml, "method": None})
    with pytest.raises(ConfigError, match="missing key learner.steps"):
        parse({**data, "learner": {"name": "online-adam"}})


def pretrain_options(**kw):
    from wheretolearn.algorithms.online.pretrain import PretrainOptions

    base = dict(meta_batches=60, tasks=2, ways=10, shots=3, queries=3, inner_steps=1,
                first_order=True, lr=0.01)  # fmt: skip
    return PretrainOptions(**{**base, **kw})


def test_a_pretraining_task_has_disjoint_support_and_query_of_distinct_classes():
    from wheretolearn.algorithms.online.pretrain import pretrain_task

    pool = mode("pool", 14, 6, 1.0, seed=5)
    gen = torch.Generator().manual_seed(0)
    (sx, sy), (qx, qy) = pretrain_task(pool, pretrain_options(), gen)
    assert sx.shape == (30, 1, SIZE, SIZE) and qx.shape == (30, 1, SIZE, SIZE)
    assert sy.tolist() == [j for j in range(10) for _ in range(3)]
    assert qy.tolist() == [j for j in range(10) for _ in range(3)]
    flat = lambda x: {tuple(row.tolist()) for row in x.flatten(1)}  # noqa: E731
    assert not flat(sx) & flat(qx)  # no image is both support and query
    with pytest.raises(ValueError, match="fewer than shots \\+ queries = 8"):
        pretrain_task(pool, pretrain_options(queries=5), gen)


def test_pretraining_lowers_the_query_loss_and_is_seeded():
    from wheretolearn.algorithms.online.pretrain import pretrain

    pool = mode("pool", 14, 6, 1.0, seed=5)
    theta = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Conv4(1, 10, SIZE, hidden=16)
        losses = pretrain(model, pool, pretrain_options(), 1, {"name": "maml", "alpha": 0.3})
        theta.append([p.detach().clone() for p in model.parameters()])
    # chance is ln 10 = 2.3; 60 meta-batches of one-step MAML reach about 0.5 on these classes
    assert sum(losses[:10]) / 10 > 1.8 and sum(losses[-10:]) / 10 < 1.0
    assert all(torch.equal(a, b) for a, b in zip(*theta, strict=True))


def test_a_fine_tuning_run_pretrains_once_and_resumes_after_a_kill(tmp_path, monkeypatch):
    from test_online_cli import (
        fake_pool,
        killed_after_the_second_checkpoint,
        result,
        tiny_params,
        train,
    )

    from wheretolearn.algorithms.online import pretrain as pretraining
    from wheretolearn.data import online as online_data

    monkeypatch.setattr(online_data, "load_pool", fake_pool)
    path = tiny_params(tmp_path, "fine-tuning/p0.98")
    params = yaml.safe_load(path.read_text())
    params["learner"] = {**{k: params["learner"][k] for k in ("name", "steps", "pretrain")}}
    params["learner"]["pretrain"].update(shots=1, queries=1, meta_batches=5)  # 3 images a class
    path.write_text(yaml.safe_dump(params))
    assert train(path, tmp_path / "full") == 0
    full = result(tmp_path / "full")
    assert full["pretrain"]["classes"] == 12 and full["hyperparameters"]["alpha_0"] is None
    assert len(json.loads((tmp_path / "full/pretrain.json").read_text())["losses"]) == 5

    killed_after_the_second_checkpoint(monkeypatch, path, tmp_path / "cut")
    monkeypatch.setattr(pretraining, "pretrain", None)  # a resumed run does not pre-train again
    assert train(path, tmp_path / "cut") == 0
    assert result(tmp_path / "cut") == full
