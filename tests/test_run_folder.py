"""A run folder loses nothing and trusts nothing: re-created outputs, locks, bound checkpoints,
no leftovers from bad input, readable permissions, unique temporary names."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest
import torch
import yaml

from run_synthetic import PARAMS
from synthetic import SyntheticSource
from wheretolearn.checkpoint import load
from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.config import parse as parse_config
from wheretolearn.experiments.fewshot.evaluate import load_run, restore_best
from wheretolearn.experiments.fewshot.run import train
from wheretolearn.files import write_text_atomic
from wheretolearn.run_folder import RunFolder

OUTPUTS = ("best.pt", "summary.json", "metrics.jsonl")


def config(**sections):
    from wheretolearn.params import deep_merge

    return parse_config(deep_merge(PARAMS, sections))


def tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def finished(tmp_path):
    """A finished run whose best validation came before its last epoch."""
    cfg = config(train={"epochs": 3, "validate_every": 1}, method={"alpha": 0.3})
    out = tmp_path / "run"
    train(cfg, out, seed=0, source=SyntheticSource())
    return cfg, out


def test_deleted_outputs_are_re_created_from_last_pt(finished):
    """What Snakemake does before it re-runs a job: delete its outputs. The run finishes again
    from last.pt alone, with the same best model, metrics and summary."""
    cfg, out = finished
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    best = load(out / "best.pt")
    for name in OUTPUTS:
        (out / name).unlink()
    train(cfg, out, seed=0, source=SyntheticSource())
    again = load(out / "best.pt")
    assert tensors_equal(best["model"], again["model"]) and best["epoch"] == again["epoch"]
    for name in ("summary.json", "metrics.jsonl"):
        assert (out / name).read_bytes() == before[name]


def test_a_corrupt_best_pt_is_re_created_by_training_again(finished):
    """The advice of the corrupt-checkpoint error (delete it, train again) leads somewhere."""
    cfg, out = finished
    best = load(out / "best.pt")
    (out / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot be read safely.*delete it and re-run training"):
        load(out / "best.pt")
    (out / "best.pt").unlink()
    train(cfg, out, seed=0, source=SyntheticSource())
    assert tensors_equal(best["model"], load(out / "best.pt")["model"])


def test_every_option_the_run_uses_is_recorded(tmp_path):
    out = tmp_path / "run"
    train(config(train={"epochs": 1}), out, seed=0, source=SyntheticSource())
    recorded = yaml.safe_load((out / "params.yaml").read_text())
    # params do not name sparse-maml's init: it is recorded with its value all the same
    assert recorded["method"] == {
        "name": "sparse-maml",
        "alpha": 0.1,
        "init_shift": 0.0,
        "init": "kaiming",
        "ste_scale": 1.0,
    }
    assert recorded["train"]["epochs"] == 1 and recorded["train"]["outer_loss"] == "sum"


def test_bad_input_leaves_no_params_file_behind(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UserError, match="train.device: cuda:7 is not available"):
        train(config(train={"device": "cuda:7"}), out, seed=0, source=SyntheticSource())
    assert not (out / "params.yaml").exists()
    # a folder with parameters but no checkpoint (an older failed run) blocks nothing either
    out.mkdir(exist_ok=True)
    (out / "params.yaml").write_text(yaml.safe_dump({"seed": 0, "method": {"name": "maml"}}))
    train(config(train={"epochs": 1}), out, seed=0, source=SyntheticSource())
    assert yaml.safe_load((out / "params.yaml").read_text())["method"]["name"] == "sparse-maml"


def test_a_second_process_on_a_run_folder_is_refused(tmp_path):
    params = {"seed": 0, **config().to_dict()}
    busy = pytest.raises(UserError, match="in use by another process \\(pid \\d+\\)")
    with RunFolder(tmp_path / "run", params), busy:
        RunFolder(tmp_path / "run", params).__enter__()
    with RunFolder(tmp_path / "run", params):  # released when the first one ends
        pass


def test_a_checkpoint_of_another_run_is_refused_naming_the_key(tmp_path):
    narrow, wide = tmp_path / "narrow", tmp_path / "wide"
    train(config(train={"epochs": 1}), narrow, seed=0, source=SyntheticSource())
    train(config(train={"epochs": 1}, model={"hidden": 8}), wide, seed=0, source=SyntheticSource())
    (narrow / "best.pt").write_bytes((wide / "best.pt").read_bytes())
    cfg, seed = load_run(narrow)
    with pytest.raises(UserError, match=r"model.hidden: 8 != 16"):
        restore_best(narrow, cfg, seed, SyntheticSource().info)


def test_an_edited_params_file_is_refused_at_evaluation(tmp_path):
    out = tmp_path / "run"
    train(config(train={"epochs": 1}), out, seed=0, source=SyntheticSource())
    recorded = yaml.safe_load((out / "params.yaml").read_text())
    recorded["method"]["alpha"] = 0.5
    (out / "params.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    cfg, seed = load_run(out)
    with pytest.raises(UserError, match=r"method.alpha: 0.1 != 0.5"):
        restore_best(out, cfg, seed, SyntheticSource().info)


def test_outputs_are_readable_by_the_group(tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        train(config(train={"epochs": 1}), out, seed=0, source=SyntheticSource())
    finally:
        os.umask(old)
    for name in ("last.pt", "best.pt", "params.yaml", "summary.json", "metrics.jsonl"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_concurrent_writers_never_share_a_temporary_file(tmp_path):
    path, errors = tmp_path / "summary.json", []

    def write(i):
        try:
            for j in range(200):
                write_text_atomic(path, json.dumps({"writer": i, "n": j}))
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert json.loads(path.read_text())["n"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_timing_counts_the_trained_epochs_and_survives_re_creation(finished):
    """timing.json: wall seconds of the 3 trained epochs, per meta-iteration too; outputs
    re-created from last.pt keep the training's time, not the seconds the re-creation took."""
    cfg, out = finished
    timing = json.loads((out / "timing.json").read_text())
    iterations = cfg.train.epochs * cfg.train.batches_per_epoch
    assert timing["iterations"] == iterations and timing["seconds"] > 0
    assert timing["seconds_per_iteration"] == pytest.approx(timing["seconds"] / iterations)
    (out / "timing.json").unlink()
    train(cfg, out, seed=0, source=SyntheticSource())
    assert json.loads((out / "timing.json").read_text()) == timing
