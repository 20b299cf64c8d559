"""A run killed mid-stream and resumed from its last checkpoint gives the same numbers, bit
for bit, as one never interrupted (model, rule, optimisers, buffer, phi, metrics, RNG)."""

from __future__ import annotations

import pytest
import torch
from online_fixtures import SPARSE, learner, stream

from wheretolearn.algorithms.online.run import run_online
from wheretolearn.checkpoint import load, save_atomic

METHODS = {
    "tensor-lr": {"name": "tensor-lr", "alpha": 0.1},
    "sparse-maml": SPARSE,
    "sparse-relu-maml": {
        "name": "sparse-relu-maml",
        "init": "uniform",
        "low": 0.005,
        "high": 0.1,
    },  # fmt: skip
    # draws its mask noise from torch's global RNG: the checkpoint must carry it
    "sparse-maml-plus": {**SPARSE, "name": "sparse-maml-plus", "embedding_dim": 4},
}
STEPS = 14


class Killed(Exception):
    pass


def run(method, **kw):
    ln = learner(METHODS[method], gamma=0.3, full_buffer=3, seed=kw.pop("seed", 0))
    torch.manual_seed(kw.pop("rng", 7))
    out = run_online(ln, stream(steps=STEPS, p=0.8, seed=4), log_every=4, **kw)
    return ln, out


def tensors(ln):
    return {
        **{f"model.{k}": v for k, v in ln.model.state_dict().items()},
        **{f"rule.{k}": v for k, v in ln.rule.state_dict().items()},
        **{f"phi.{k}": v for k, v in ln.phi.items()},
    }


@pytest.mark.parametrize("method", sorted(METHODS))
def test_resume_after_a_kill_mid_stream_is_bit_identical(method, tmp_path):
    full, expected = run(method)
    path = tmp_path / "last.pt"

    def kill(batch, record):
        if batch.step == 9:  # after the checkpoint of step 8: steps 8 and 9 are redone
            raise Killed

    with pytest.raises(Killed):
        run(method, checkpoint_every=4, on_step=kill,
            on_checkpoint=lambda state: save_atomic(state, path))  # fmt: skip
    state = load(path)
    assert state["next_step"] == 8
    resumed, out = run(method, seed=123, rng=99, state=state)  # other init, other RNG state
    assert out == expected
    assert expected["metrics"]["detections"] > 0 and len(expected["trace"]) == 3
    got, want = tensors(resumed), tensors(full)
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), key
    assert len(resumed.buffer) == len(full.buffer) and resumed.restart == full.restart
    for (a, _), (b, _) in zip(resumed.buffer, full.buffer, strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(
        resumed.theta_opt.state_dict(), full.theta_opt.state_dict(), rtol=0, atol=0
    )


def test_a_checkpoint_comes_at_the_end_of_the_stream():
    states = []
    run("tensor-lr", on_checkpoint=states.append)
    assert [s["next_step"] for s in states] == [STEPS]
