"""The C-MAML loop: the detector on the learner's own losses at its exact threshold, the
meta-update on buffered batches only, a closed mask coordinate that never moves phi."""

from __future__ import annotations

import math

import pytest
import torch
from online_fixtures import SPARSE, learner, stream

from wheretolearn.algorithms.online import inner_tensors
from wheretolearn.algorithms.online.learner import outer_pairs
from wheretolearn.algorithms.online.run import run_online

MAML = {"name": "maml", "alpha": 0.1}


def losses(gamma, steps=6):
    s, ln = stream(steps=steps, p=0.0, seed=5), learner(MAML, gamma=gamma)
    return [ln.observe(s.batch(t).x, s.batch(t).y) for t in range(steps)]


def test_the_detector_fires_exactly_on_the_constructed_drop():
    """With gamma just equal to the largest drop of a run that never detects, the run is the
    same up to that step and detects there; with the next float above, it never detects."""
    quiet = losses(1e9)
    drops = [r.loss_before - r.loss_after for r in quiet]
    k = max(range(1, len(quiet)), key=lambda t: (drops[t], -t))  # first largest drop
    before, after = quiet[k].loss_before, quiet[k].loss_after
    gamma = before - after
    while after + gamma > before:  # the largest gamma with after + gamma <= before
        gamma = math.nextafter(gamma, 0.0)
    while after + math.nextafter(gamma, math.inf) <= before:
        gamma = math.nextafter(gamma, math.inf)
    fired = losses(gamma)
    assert [r.detected for r in fired[: k + 1]] == [False] * k + [True]
    assert fired[k].loss_before == before and fired[k].loss_after == after
    assert not any(r.detected for r in losses(math.nextafter(gamma, math.inf))[: k + 1])
    assert not quiet[0].detected and drops[0] > 0  # step 0 never detects, whatever the drop


def test_the_meta_update_sees_only_the_buffered_batches_and_empties_the_buffer():
    s, ln = stream(steps=12, p=0.0, seed=1), learner(MAML, gamma=1e9, full_buffer=2)
    seen = []
    update = ln.meta_update

    def spy(batches):
        seen.append([steps_of(x) for x, _ in batches])
        return update(batches)

    ln.meta_update = spy
    ids = {}

    def steps_of(x):
        return ids[x.data_ptr()]

    for t in range(12):
        b = s.batch(t)
        ids[b.x.data_ptr()] = t
        theta = [p.detach().clone() for p in ln.model.parameters()]
        record = ln.observe(b.x, b.y)
        moved = any(
            not torch.equal(a, p) for a, p in zip(theta, ln.model.parameters(), strict=True)
        )
        assert moved == record.updated == (t in (3, 7, 11)), t  # theta moves only on updates
        if record.updated:
            assert ln.buffer == []
    # more than 2 buffered batches force an update; the update step's batch is dropped
    assert seen == [[0, 1, 2], [4, 5, 6], [8, 9, 10]]


def test_support_query_pairs_are_the_authors_halves():
    a, b, c, d, e = [(torch.tensor([i]), torch.tensor([i])) for i in range(5)]
    assert outer_pairs([a]) == [(a, a)]
    assert outer_pairs([a, b, c]) == [(a, c)]
    assert outer_pairs([a, b, c, d, e]) == [(a, d), (b, e)]


def test_a_closed_mask_coordinate_never_moves_phi():
    s, ln = stream(steps=10, p=0.7, seed=2), learner(SPARSE, gamma=0.05)
    kinds = set()
    for t in range(10):
        closed = {n: (ln.rule.mask_logits[n.replace(".", "__")] < 0).detach().clone()
                  for n in ln.rule.adapted}  # fmt: skip
        restart = ln.restart
        origin = {n: p.detach().clone() for n, p in ln.model.named_parameters()}
        if not restart:
            origin.update({n: v.clone() for n, v in ln.phi.items()})
        record = ln.observe(s.batch(t).x, s.batch(t).y)
        kinds.add((restart, record.updated))
        moved = 0
        for name, mask in closed.items():
            assert torch.equal(ln.phi[name][mask], origin[name][mask]), (t, name)
            moved += int((ln.phi[name][~mask] != origin[name][~mask]).sum())
        assert moved > 0, t  # open coordinates do move (biases before BatchNorm get no gradient)
    # both origins (theta after a detection, phi otherwise) and meta-updates were exercised
    assert {r for r, _ in kinds} == {True, False} and any(u for _, u in kinds)


def test_batchnorm_is_meta_learned_but_not_adapted():
    ln = learner(MAML)
    names = [n for n, _ in ln.model.named_parameters()]
    assert inner_tensors(ln.model) == [n for n in names if ".norm." not in n]
    assert len(ln.rule.adapted) == 10  # four convolutions and the classifier, as the authors
    assert inner_tensors(ln.model, adapt_batchnorm=True) == names


def test_gate_theta_keeps_closed_coordinates_of_theta_in_the_meta_update():
    for gate in (True, False):
        ln = learner(SPARSE, gamma=1e9, full_buffer=1, gate_theta=gate)
        closed = {n: ln.rule.mask_logits[n.replace(".", "__")].detach() < 0
                  for n in ln.rule.adapted}  # fmt: skip
        params = dict(ln.model.named_parameters())
        start = {n: params[n].detach().clone() for n in closed}
        s = stream(steps=3, p=0.0, seed=3)
        for t in range(3):
            ln.observe(s.batch(t).x, s.batch(t).y)
        still = all(torch.equal(params[n][m], start[n][m]) for n, m in closed.items())
        assert still == gate


def captured_meta_gradients(**options):
    """theta's meta-gradients of one meta-update on three fixed batches (optimiser step
    replaced by a capture), and the meta-loss."""
    ln = learner(MAML, **options)
    s = stream(steps=3, p=0.0, seed=6)
    batches = [(s.batch(t).x, s.batch(t).y) for t in range(3)]
    grads = []
    ln.theta_opt.step = lambda: grads.extend(p.grad.clone() for p in ln.model.parameters())
    return ln.meta_update(batches), grads


def test_update_modulation_weighs_the_meta_gradient_by_one_minus_exp_of_the_loss():
    loss, plain = captured_meta_gradients()
    same, weighted = captured_meta_gradients(um_lambda=0.5)
    assert same == loss
    weight = 1.0 - math.exp(-0.5 * loss)
    for a, b in zip(plain, weighted, strict=True):
        torch.testing.assert_close(b, weight * a, rtol=1e-6, atol=0)


def test_second_order_meta_gradients_differ_from_first_order():
    _, first = captured_meta_gradients(first_order=True)
    _, second = captured_meta_gradients(first_order=False)
    assert any(not torch.allclose(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    "method",
    [MAML, {"name": "tensor-lr", "alpha": 0.5}, {**SPARSE, "alpha": 0.5},
     {"name": "sparse-relu-maml", "init": "uniform", "low": 0.005, "high": 0.1}],
    ids=["c-maml-fixed", "c-maml", "sparse-c-maml", "sparse-relu-c-maml"],
)  # fmt: skip
def test_every_variant_learns_the_stream_and_detects_its_switches(method):
    """Prototype classes: adapted on one batch, phi predicts the next batch of the task far
    above chance (10%), and the detector finds true switches."""
    out = run_online(learner(method, gamma=1.0, inner_steps=5), stream(steps=40, p=0.95))
    metrics = out["metrics"]
    assert metrics["accuracy"] > 40 and metrics["switches"] >= 1
    assert metrics["recall"] > 0 and metrics["precision"] > 0
