"""Online Adam (the authors' online_sgd): theta predicts the batch first, then learns it; no
detector, no buffer, no rule; it learns a stream; a kill mid-stream resumes bit for bit."""

from __future__ import annotations

import pytest
import torch
from online_fixtures import SIZE, stream
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
