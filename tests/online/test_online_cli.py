"""A tiny online run end to end through the command line (fake pools in place of the registry's):
the run folder's summary, trace and parameters; an interrupted run resumes at its last
checkpoint and ends with the same numbers; a folder of other parameters is refused; the
meta optimiser must match the rule; our total is the mode mix within sampling error."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from online_fixtures import mode

from wheretolearn import cli
from wheretolearn.data import online as online_data
from wheretolearn.data.pools import Pool
from wheretolearn.experiments import family
from wheretolearn.experiments.online import run as online_run
from wheretolearn.experiments.online.cells import mix_gap, mix_sd

STEPS = 40
CLASSES = {"omniglot-small": 12, "mnist-test": 10, "mnist-digits": 10, "fashion-mnist": 10}


def fake_pool(dataset, split, root):
    m = mode(dataset, CLASSES[dataset], 3, 1.0, seed=len(dataset) + len(split))
    return Pool(dataset, split, m.images, m.labels)


def tiny_params(tmp_path, cell: str = "sparse-c-maml/p0.9"):
    """A smoke profile's run on a 40-step stream of 16x16 fake pools, conv4-4."""
    composed = family("online").compose(cell, "smoke")
    composed["stream"]["steps"] = STEPS
    composed["model"]["hidden"] = 4
    composed["learner"].update(full_buffer=6, gamma=0.5)
    composed["train"].update(log_every=5, checkpoint_every=10, device="cpu")
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(composed))
    return path


@pytest.fixture
def params_file(tmp_path, monkeypatch):
    """The smoke profile's sparse-C-MAML at p = 0.9, tiny (:func:`tiny_params`)."""
    monkeypatch.setattr(online_data, "load_pool", fake_pool)
    return tiny_params(tmp_path)


def train(params_file, out, *extra):
    argv = ["train", "--family", "online", "--params", str(params_file), "--seed", "3"]
    return cli.main([*argv, "--out", str(out), *extra])


def result(out):
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("wall_s")
    return summary


def killed_after_the_second_checkpoint(monkeypatch, params_file, out):
    """Train into ``out`` until the second checkpoint has been written, then kill it."""
    write, calls = online_run._write_trace, []

    def then_killed(folder, entries):
        write(folder, entries)
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(online_run, "_write_trace", then_killed)
    with pytest.raises(KeyboardInterrupt):
        train(params_file, out)
    monkeypatch.setattr(online_run, "_write_trace", write)


def test_a_run_writes_its_summary_and_trace_and_resumes_after_an_interruption(
    params_file, tmp_path, monkeypatch
):
    assert train(params_file, tmp_path / "full") == 0
    full = result(tmp_path / "full")
    assert full["steps"] == STEPS and sum(full["steps_per_mode"].values()) == STEPS
    assert set(full["per_mode"]) == {"omniglot", "mnist", "fashion-mnist"}
    assert full["switches"] > 0 and 0 <= full["accuracy"] <= 100
    assert full["hyperparameters"] == {"alpha_0": 0.3, "gamma_m": 0.003}
    assert set(full["sparsity"]["final"]) == set(full["parameters"])  # BatchNorm not adapted
    assert not any("norm" in name or "bn" in name for name in full["parameters"])
    trace = [
        json.loads(line) for line in (tmp_path / "full/metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in trace] == list(range(5, STEPS + 1, 5))
    recorded = yaml.safe_load((tmp_path / "full/params.yaml").read_text())
    assert recorded["seed"] == 3 and recorded["method"]["ste_scale"] == 1.0

    killed_after_the_second_checkpoint(monkeypatch, params_file, tmp_path / "cut")
    assert not (tmp_path / "cut/summary.json").exists()
    assert torch.load(tmp_path / "cut/last.pt", weights_only=True)["online"]["next_step"] == 20
    assert train(params_file, tmp_path / "cut") == 0
    assert result(tmp_path / "cut") == full
    (tmp_path / "cut/summary.json").unlink()  # a finished run re-creates it from last.pt
    assert train(params_file, tmp_path / "cut") == 0 and result(tmp_path / "cut") == full


def test_a_folder_of_other_parameters_is_refused_or_moved_aside(params_file, tmp_path, capsys):
    assert train(params_file, tmp_path / "run") == 0
    assert train(params_file, tmp_path / "run", "--set", "learner.gamma=0.7") == 2
    assert "holds a run with other parameters (learner.gamma" in capsys.readouterr().err
    assert (
        train(params_file, tmp_path / "run", "--set", "learner.gamma=0.7", "--replace-stale") == 0
    )
    assert (tmp_path / "run.stale-1/summary.json").exists()


def test_the_meta_optimiser_must_match_the_rule(params_file, tmp_path, capsys):
    assert train(params_file, tmp_path / "a", "--set", "method={name: maml, alpha: 0.1}") == 2
    assert "'maml' has no meta-parameters; set it null" in capsys.readouterr().err
    assert train(params_file, tmp_path / "b", "--set", "train.meta_optimizer=null") == 2
    assert "'sparse-maml' has meta-parameters; give" in capsys.readouterr().err
    assert not (tmp_path / "a/params.yaml").exists()  # bad input leaves nothing behind


def test_our_total_is_the_mode_mix_within_sampling_error(params_file, tmp_path):
    assert train(params_file, tmp_path / "run", "--set", "stream.steps=120") == 0
    summary = result(tmp_path / "run")
    shares = {m: n / summary["steps"] for m, n in summary["steps_per_mode"].items()}
    exact = sum(shares[m] * a for m, a in summary["per_mode"].items())
    assert summary["accuracy"] == pytest.approx(exact, abs=1e-9)  # the realised shares
    sd = mix_sd(summary["per_mode"], p=0.9, steps=summary["steps"])
    assert abs(mix_gap(summary["accuracy"], summary["per_mode"])) <= 3 * sd


@pytest.mark.parametrize(
    ("run", "alpha_0", "gamma_m", "sparse"),
    [("c-maml", 0.1, 0.005, False), ("c-maml-fixed", 0.1, None, False),
     ("sparse-relu-c-maml", None, 0.01, True)],
)  # fmt: skip
def test_every_variant_trains_through_the_command_line(run, alpha_0, gamma_m, sparse, tmp_path,
                                                        monkeypatch):  # fmt: skip
    """sparse-c-maml runs in the tests above; Table S9's values are recorded in every summary,
    and only a masking rule has gradient sparsity (C-MAML's per-tensor steps are never 0)."""
    monkeypatch.setattr(online_data, "load_pool", fake_pool)
    assert train(tiny_params(tmp_path, f"{run}/p0.98"), tmp_path / run) == 0
    summary = result(tmp_path / run)
    assert summary["hyperparameters"] == {"alpha_0": alpha_0, "gamma_m": gamma_m}
    assert (summary["sparsity"]["final_overall"] > 0) == sparse
