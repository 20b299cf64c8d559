"""MAML and ANIL pre-trained, then never retrained (the C-MAML authors' never_retrain): theta
never moves on the stream; each batch is scored by phi adapted from theta on the batch before
(theta at step 0), and phi for the next step is the rule's inner steps from theta on this batch;
ANIL adapts the head alone; pre-training by the run's rule moves theta and lowers the query
loss; a kill mid-stream resumes bit for bit; the rule's step and inner steps are stated once."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from online_fixtures import SIZE, mode, stream
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.online import online_rule
from wheretolearn.algorithms.online.baselines import OnlinePretrained
from wheretolearn.algorithms.online.run import run_online
from wheretolearn.checkpoint import load, save_atomic
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import family
from wheretolearn.experiments.online.config import parse
from wheretolearn.experiments.online.run import pretrain_rule
from wheretolearn.models.conv4 import Conv4

MAML = {"name": "maml", "alpha": 0.1}
ANIL = {"name": "anil", "alpha": 0.5}
HEAD = ["classifier.weight", "classifier.bias"]


def learner(method=MAML, *, steps=3, seed=0) -> OnlinePretrained:
    torch.manual_seed(seed)
    model = Conv4(1, 10, SIZE, hidden=4)
    return OnlinePretrained(model, online_rule(method, model), steps)


def theta_of(ln) -> dict[str, torch.Tensor]:
    return {n: t.clone() for n, t in ln.model.state_dict().items()}


def sgd(model, method, x, y, steps: int) -> dict[str, torch.Tensor]:
    """``steps`` plain gradient steps of ``method['alpha']`` from theta on (x, y), by hand: on
    every convolution and the classifier (MAML; BatchNorm affines stay) or on the head (ANIL)."""
    phi = {n: p.detach().clone() for n, p in model.named_parameters()}
    names = HEAD if method["name"] == "anil" else [n for n in phi if ".norm." not in n]
    assert len(names) == (2 if method["name"] == "anil" else 10)
    for _ in range(steps):
        live = {n: phi[n].requires_grad_() for n in names}
        loss = F.cross_entropy(functional_call(model, {**phi, **live}, (x,)), y)
        grads = torch.autograd.grad(loss, list(live.values()))
        phi = {**phi, **{n: (live[n] - method["alpha"] * g).detach()
                         for n, g in zip(names, grads, strict=True)}}  # fmt: skip
    return phi


def scored(model, phi, x, y) -> tuple[float, float]:
    with torch.no_grad():
        logits = functional_call(model, phi, (x,))
    return F.cross_entropy(logits, y).item(), int((logits.argmax(-1) == y).sum()) / len(y)


@pytest.mark.parametrize("method", [MAML, ANIL], ids=["maml", "anil"])
def test_each_batch_is_scored_by_phi_adapted_on_the_batch_before_and_theta_never_moves(method):
    ln, s = learner(method), stream(steps=6, p=0.8, seed=2)
    theta = theta_of(ln)
    before = {n: p.detach().clone() for n, p in ln.model.named_parameters()}
    previous = None
    for t in range(len(s)):
        b = s.batch(t)
        # the score: theta at step 0, else phi adapted from theta on B_{t-1} (by hand)
        phi = before if previous is None else sgd(ln.model, method, *previous, steps=3)
        loss, accuracy = scored(ln.model, phi, b.x, b.y)
        record = ln.observe(b.x, b.y)
        assert record.loss_before == pytest.approx(loss, rel=1e-5)
        assert record.accuracy == accuracy
        assert not record.detected and not record.updated  # no detector, no theta update
        # phi for step t+1 is adapt(theta, B_t): every adapted tensor, from theta, on B_t alone
        expected = sgd(ln.model, method, b.x, b.y, steps=3)
        assert sorted(ln.phi) == sorted(ln.rule.adapted)
        for name, value in ln.phi.items():
            torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6)
        previous = (b.x, b.y)
        for name, value in ln.model.state_dict().items():  # theta and BatchNorm never move
            assert torch.equal(value, theta[name]), (t, name)


def test_anil_adapts_the_head_alone_and_maml_every_convolution_and_the_head():
    anil, maml = learner(ANIL), learner(MAML)
    b = stream(steps=1).batch(0)
    for ln in (anil, maml):
        ln.observe(b.x, b.y)
    assert sorted(anil.phi) == sorted(HEAD)
    assert sorted(maml.phi) == sorted(
        n for n, _ in maml.model.named_parameters() if ".norm." not in n
    )
    fast = anil.fast_weights()
    for name, p in anil.model.named_parameters():  # the body is theta's, the head moved
        assert torch.equal(fast[name], p.detach()) == (name not in HEAD), name


def test_adaptation_always_restarts_from_theta():
    """No prolonged adaptation: phi after B_1 does not depend on B_0."""
    s = stream(steps=3, p=0.99, seed=1)
    one, two = learner(), learner()
    one.observe(s.batch(0).x, s.batch(0).y)
    one.observe(s.batch(1).x, s.batch(1).y)
    two.observe(s.batch(1).x, s.batch(1).y)
    for name in one.phi:
        assert torch.equal(one.phi[name], two.phi[name]), name


def test_the_stream_is_learned_without_updating_theta():
    """A stable stream (p = 0.99): phi of the batch before classifies the next well above
    chance (10%; measured 37% on a conv4-4) though theta is random and never updated."""
    ln = learner(steps=5)
    theta = theta_of(ln)
    out = run_online(ln, stream(steps=40, p=0.99, seed=3))
    assert out["metrics"]["accuracy"] > 25 and out["metrics"]["detections"] == 0
    assert all(torch.equal(v, theta[n]) for n, v in ln.model.state_dict().items())
    assert len(out["trace"]) == 0  # log_every unset


def pretrain_options(**kw):
    from wheretolearn.algorithms.online.pretrain import PretrainOptions

    base = dict(meta_batches=40, tasks=2, ways=10, shots=2, queries=3, inner_steps=4,
                first_order=True, lr=0.01)  # fmt: skip
    return PretrainOptions(**{**base, **kw})


@pytest.mark.parametrize("method", [MAML, ANIL], ids=["maml", "anil"])
def test_pretraining_by_the_rule_moves_theta_and_lowers_the_query_loss(method, monkeypatch):
    from wheretolearn.algorithms.online import pretrain as pretraining

    built = []

    def spy(spec, model):
        built.append(online_rule(spec, model))
        return built[-1]

    monkeypatch.setattr(pretraining, "online_rule", spy)
    pool = mode("pool", 14, 6, 1.0, seed=5)
    torch.manual_seed(0)
    model = Conv4(1, 10, SIZE, hidden=16)
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = pretraining.pretrain(model, pool, pretrain_options(), 1, method)
    # the inner loop is the run's rule: ANIL's the head alone, MAML's every convolution too
    (rule,) = built
    assert rule.rule_name == method["name"] and rule.options.alpha == method["alpha"]
    assert (sorted(rule.adapted) == sorted(HEAD)) == (method is ANIL)
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < first - 0.5, (first, last)  # chance is ln 10 = 2.3
    moved = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), theta[n])}
    # the outer step moves every tensor (ANIL too: only its inner loop is the head's)
    assert moved == set(theta)


def test_pretraining_refuses_a_rule_with_meta_parameters():
    from wheretolearn.algorithms.online.pretrain import pretrain

    model = Conv4(1, 10, SIZE, hidden=4)
    with pytest.raises(ValueError, match="'tensor-lr' has meta-parameters"):
        pretrain(model, mode("pool", 14, 6, 1.0, seed=5), pretrain_options(), 1,
                 {"name": "tensor-lr", "alpha": 0.1})  # fmt: skip


class Killed(Exception):
    pass


@pytest.mark.parametrize("method", [MAML, ANIL], ids=["maml", "anil"])
def test_a_kill_mid_stream_resumes_bit_for_bit(method, tmp_path):
    def run(seed=0, **kw):
        ln = learner(method, seed=seed)
        with torch.no_grad():  # a "pre-trained" theta, which the checkpoint must carry
            for p in ln.model.parameters():
                p.add_(0.01)
        return ln, run_online(ln, stream(steps=12, p=0.8, seed=4), log_every=4, **kw)

    full, expected = run()
    path = tmp_path / "last.pt"

    def kill(batch, record):
        if batch.step == 9:
            raise Killed

    with pytest.raises(Killed):
        run(checkpoint_every=4, on_step=kill, on_checkpoint=lambda s: save_atomic(s, path))
    state = load(path)
    assert state["next_step"] == 8 and state["learner"]["seen"] == 8
    resumed, out = run(seed=5, state=state)  # another init: theta comes from the checkpoint
    assert out == expected and len(expected["trace"]) == 3
    for name, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    for name, value in full.phi.items():
        assert torch.equal(resumed.phi[name], value), name


def tiny(tmp_path, monkeypatch, cell: str):
    from test_online_cli import fake_pool, tiny_params

    from wheretolearn.data import online as online_data

    monkeypatch.setattr(online_data, "load_pool", fake_pool)
    path = tiny_params(tmp_path, cell)
    params = yaml.safe_load(path.read_text())
    params["learner"] = {k: params["learner"][k] for k in ("name", "pretrain")}  # no C-MAML keys
    params["learner"]["pretrain"].update(shots=1, queries=1, meta_batches=4)  # 3 images a class
    params["learner"]["inner_steps"] = 3
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("cell", ["maml/p0.98", "anil/p0.9"])
def test_a_never_retrain_run_pretrains_once_and_resumes_after_a_kill(cell, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    from test_online_cli import killed_after_the_second_checkpoint, result, train

    from wheretolearn.algorithms.online import pretrain as pretraining

    path = tiny(tmp_path, monkeypatch, cell)
    assert train(path, tmp_path / "full") == 0
    full = result(tmp_path / "full")
    pre = json.loads((tmp_path / "full/pretrain.json").read_text())
    assert len(pre["losses"]) == 4 and full["pretrain"]["classes"] == 12
    assert full["detections"] == 0 and 0 < full["accuracy"] <= 100
    alpha = {"maml/p0.98": 0.1, "anil/p0.9": 0.05}[cell]
    assert full["hyperparameters"] == {"alpha_0": alpha, "gamma_m": None}
    head = {n for n in full["parameters"] if n.startswith("classifier.")}
    closed = {n for n, v in full["sparsity"]["final"].items() if v == 1.0}
    assert closed == (set(full["parameters"]) - head if cell.startswith("anil") else set())

    killed_after_the_second_checkpoint(monkeypatch, path, tmp_path / "cut")
    monkeypatch.setattr(pretraining, "pretrain", None)  # a resumed run does not pre-train again
    assert train(path, tmp_path / "cut") == 0
    assert result(tmp_path / "cut") == full


def test_pretraining_takes_the_runs_rule_and_fine_tuning_keeps_its_own_maml():
    online = family("online")
    for run, name, method, steps in [
        ("maml", "p0.98", {"name": "maml", "alpha": 0.1}, 16),
        ("anil", "p0.9", {"name": "anil", "alpha": 0.05}, 16),
        ("fine-tuning", "p0.9", {"name": "maml", "alpha": 0.05}, 1),
    ]:
        config = parse(online.compose(f"{run}/{name}", "paper"))
        assert pretrain_rule(config) == (method, steps), run


def test_the_authors_best_parameters_reach_the_runs():
    """Best_params omniglot_p0.98 / p0.9, MAML and ANIL: meta-batch, meta_lr, first order,
    inner steps and step; 5 support and 15 query images per class (num_shots_test)."""
    online = family("online")
    best = {
        ("maml", "p0.98"): (8, 0.001, False, 16, 0.1),
        ("maml", "p0.9"): (4, 0.0001, True, 16, 0.1),
        ("anil", "p0.98"): (1, 0.005, True, 16, 0.5),
        ("anil", "p0.9"): (4, 0.005, False, 16, 0.05),
    }
    for (run, name), (tasks, lr, first_order, steps, alpha) in best.items():
        composed = online.compose(f"{run}/{name}", "paper")
        pre = composed["learner"]["pretrain"]
        assert (pre["tasks"], pre["lr"], pre["first_order"]) == (tasks, lr, first_order), run
        assert composed["learner"]["inner_steps"] == steps and composed["method"] == {
            "name": run, "alpha": alpha
        }  # fmt: skip
        assert (pre["shots"], pre["queries"], pre["mode"], pre["split"]) == (5, 15, "omniglot",
                                                                               "train")  # fmt: skip
        assert composed["train"]["theta_optimizer"] is None
        assert composed["train"]["meta_optimizer"] is None
        assert f"{run}:" in composed["notes"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"learner": {"pretrain": {"alpha": 0.05}}},
         r"learner.pretrain.alpha: .*method.alpha \(0.05 contradicts 0.1\)"),
        ({"learner": {"pretrain": {"inner_steps": 1}}},
         r"learner.pretrain.inner_steps: .*learner.inner_steps \(1 contradicts 16\)"),
        ({"learner": {"pretrain": {"alpha": 0.1}}}, r"learner.pretrain.alpha: .*remove it"),
        ({"train": {"theta_optimizer": {"name": "adam", "lr": 0.001}}},
         "train.theta_optimizer: never-retrain never updates theta"),
        ({"train": {"meta_optimizer": {"name": "adam", "lr": 0.001}}},
         "train.meta_optimizer: never-retrain learns no meta-parameters"),
        ({"method": None}, "method: never-retrain needs an update rule"),
        ({"learner": {"pretrain": None}}, "learner"),
        ({"learner": {"gamma": 1.0}}, "unknown key learner.gamma"),
    ],
)  # fmt: skip
def test_a_contradictory_or_wrong_key_is_refused_by_name(change, match):
    from wheretolearn import params

    data = params.deep_merge(family("online").compose("maml/p0.98", "paper"), change)
    with pytest.raises(ConfigError, match=match):
        parse(data)


def test_other_learners_need_their_theta_optimiser_and_fine_tuning_its_own_step():
    from wheretolearn import params

    online = family("online")
    for cell in ("c-maml/p0.9", "online-adam/p0.9"):
        data = params.deep_merge(
            online.compose(cell, "smoke"), {"train": {"theta_optimizer": None}}
        )
        with pytest.raises(ConfigError, match="train.theta_optimizer: learner .* updates theta"):
            parse(data)
    data = online.compose("fine-tuning/p0.98", "smoke")
    del data["learner"]["pretrain"]["alpha"]
    with pytest.raises(ConfigError, match="missing key learner.pretrain.alpha"):
        parse(data)


def test_a_rule_with_meta_parameters_is_refused_when_the_run_is_built(tmp_path, monkeypatch,
                                                                     capsys):  # fmt: skip
    from test_online_cli import train

    path = tiny(tmp_path, monkeypatch, "maml/p0.98")
    assert train(path, tmp_path / "run", "--set", "method={name: tensor-lr, alpha: 0.1}") == 2
    assert "never-retrain learns theta alone; the rule 'tensor-lr'" in capsys.readouterr().err
    assert not (tmp_path / "run/params.yaml").exists()
