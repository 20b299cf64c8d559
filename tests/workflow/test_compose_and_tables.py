"""Run composition (params -> one run's parameters) and table aggregation, without training."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from wheretolearn import params
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import family
from wheretolearn.experiments.fewshot.cells import eval_file
from wheretolearn.experiments.fewshot.compose import cell, table_cells
from wheretolearn.tables import COLUMNS

FEWSHOT = family("fewshot")


def compose(run, shots, profile):
    return FEWSHOT.compose(cell(run, shots), profile)


def cells(table):
    return table_cells(FEWSHOT.declarations()[table])


def write_table(table, profile):
    return FEWSHOT.write_table(table, profile)


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A scratch copy of params/ as the project root (results go under it)."""
    shutil.copytree(ROOT / "params", tmp_path / "params")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# What a profile may change (budget and data); everything else must be the params file's value.
# Declared here, independently of the profiles, so that a profile that changes an algorithm
# option fails this test. sparse-maml-plus's embedding_dim is the feature size, which depends on
# the image size (1600 at 84x84, 64 at 28x28).
BUDGET_KEYS = {
    "model.hidden",
    "data.dataset",
    "data.queries",
    "train.epochs",
    "train.batches_per_epoch",
    "train.inner_steps",
    "train.validate_every",
    "train.val_tasks",
    "train.val_inner_steps",
    "eval.inner_steps",
    "eval.tasks",
    "eval.targets",
    # MAML++'s schedules count epochs: a shorter budget scales them with its epochs
    "train.first_order_epochs",
    "train.msl_epochs",
}
IMAGE_SIZE_KEYS = {"sparse-maml-plus": {"method.embedding_dim"}}


def flat(tree, prefix=""):
    """{"a.b": leaf}; ``eval.targets`` stays one value (its keys are dataset names)."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name != "eval.targets":
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def from_params_file(run, shots):
    """A run's parameters read straight from params/fewshot/runs.yaml, with no profile."""
    spec = yaml.safe_load((ROOT / "params" / "fewshot" / "runs.yaml").read_text())

    def entry(name):
        own = dict(spec["runs"][name])
        parent = own.pop("from", None)
        return params.deep_merge(entry(parent), own) if parent else own

    e = entry(run)
    merged = params.deep_merge(spec["base"], spec["shots"][shots])
    for layer in (e.get("all"), e.get(shots), e.get("scan")):  # a scan's value is the declared one
        merged = params.deep_merge(merged, layer)
    return merged


@pytest.mark.parametrize("profile", ["paper", "smoke", "real-offline"])
def test_every_table_run_composes_and_profiles_keep_the_algorithm(profile):
    for table in FEWSHOT.profile_targets(profile):
        for run, shots, _ in cells(table):
            composed = flat(compose(run, shots, profile))
            declared = flat(from_params_file(run, shots))
            allowed = BUDGET_KEYS | IMAGE_SIZE_KEYS.get(run, set()) if profile != "paper" else set()
            for key, value in declared.items():
                if key not in allowed:
                    assert composed.get(key) == value, (profile, run, shots, key)
            assert composed["method.name"] == declared["method.name"]


def test_table_s2_values_reach_the_runs():
    run = compose("sparse-maml", 1, "paper")
    assert run["method"]["alpha"] == 0.25 and run["train"]["inner_steps"] == 35
    assert run["train"]["meta_optimizer"]["lr"] == 0.0075 and run["eval"]["inner_steps"] == 100
    assert run["eval"]["targets"] == {"tieredimagenet": 35, "cub": 35, "cars": 35}
    plus = compose("sparse-maml-plus", 5, "paper")
    assert plus["train"]["theta_optimizer"]["name"] == "sgd-nesterov"
    assert plus["train"]["epochs"] == 600 and plus["eval"]["targets"]["cars"] == 100
    relu = compose("sparse-relu-maml", 5, "paper")
    assert relu["method"]["alpha"] == 0.1
    smoke = compose("sparse-maml", 1, "smoke")
    assert smoke["data"]["dataset"] == "omniglot-small-rot"
    expected = {"omniglot-small": 10, "mnist-items": 10, "fashion-mnist": 10}
    assert smoke["eval"]["targets"] == expected


def test_a_wrong_key_in_params_is_named(project):
    path = project / "params" / "fewshot" / "runs.yaml"
    path.write_text(path.read_text().replace("batches_per_epoch: 100", "batches_per_epok: 100"))
    with pytest.raises(ConfigError, match="unknown key train.batches_per_epok"):
        compose("maml", 1, "paper")
    with pytest.raises(ConfigError, match="unknown fewshot run 'mamI'"):
        compose("mamI", 1, "paper")


def test_table4_aggregates_seeds_beside_the_paper(project):
    """Fake evaluation results: accuracy = (seed + 1) / 10 + shots / 100 for every cell."""
    seeds = params.seeds("smoke")
    for run, shots, target in cells("table4"):
        for seed in seeds:
            path = eval_file("smoke", run, shots, seed, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            acc = (seed + 1) / 10 + shots / 100
            path.write_text(json.dumps({"accuracy": acc, "sparsity": 0.5}))
    csv_path, md_path, tex_path = write_table("table4", "smoke")
    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 6 * 2 * 3
    assert list(rows[0]) == COLUMNS
    cell = next(
        r
        for r in rows
        if (r["method"], r["setting"], r["dataset"]) == ("sparse-maml", "5-shot", "cub")
    )
    expected = [100 * ((s + 1) / 10 + 0.05) for s in seeds]
    assert float(cell["mean"]) == pytest.approx(statistics.fmean(expected))
    assert float(cell["std"]) == pytest.approx(statistics.stdev(expected))
    assert cell["n_seeds"] == "2"
    assert (float(cell["paper_mean"]), float(cell["paper_std"])) == (60.58, 1.10)
    md = md_path.read_text()
    assert "60.58 ± 1.10" in md and "smoke test on real offline data" in md
    assert r"\begin{tabular}" in tex_path.read_text()


def test_table1_marks_reported_only_rows(project):
    for run, shots, target in cells("table1"):
        for seed in params.seeds("smoke"):
            path = eval_file("smoke", run, shots, seed, target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"accuracy": 0.5, "sparsity": 0.0}))
    csv_path, md_path, _ = write_table("table1", "smoke")
    rows = list(csv.DictReader(csv_path.open()))
    mtnet = [r for r in rows if r["method"] == "mt-net"]
    assert [r["n_seeds"] for r in mtnet] == ["0", "0"] and mtnet[0]["mean"] == ""
    assert mtnet[0]["paper_mean"] == "51.7"
    assert "mt-net *(reported)*" in md_path.read_text()


def test_missing_results_say_what_to_run(project):
    from wheretolearn.errors import UserError

    with pytest.raises(UserError, match="run `snakemake`"):
        write_table("table3", "smoke")


COMPOSE_ALL = """
import sys
from pathlib import Path
from wheretolearn import params, validation_memo
from wheretolearn.experiments import FAMILIES, family
validation_memo.enable(Path(sys.argv[1]))
for name in FAMILIES.names():
    if params.covers("smoke", name):
        for target in family(name).targets():
            for cell in family(name).cells(target):
                family(name).compose(cell, "smoke")
print("torch" in sys.modules)
"""


def test_a_dag_build_imports_no_torch_once_its_params_are_validated(tmp_path):
    """Composing every run of the smoke profile (what the DAG build does) validates each once;
    with the memo warm, the next build imports no torch (1-2 s of every `snakemake -n`)."""
    import subprocess
    import sys

    memo = tmp_path / "validated"
    runs = [
        subprocess.run(
            [sys.executable, "-c", COMPOSE_ALL, str(memo)],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.split()  # fmt: skip
        for _ in range(2)
    ]
    assert runs == [["True"], ["False"]], runs  # the first validates (rules import torch)


def test_a_compose_job_validates_only_what_the_dag_build_has_not(tmp_path, monkeypatch):
    """`compose` (each compose job) reads the memo the DAG build wrote: a mapping it holds is
    not validated again (validation imports torch); one it lacks is, and is then recorded."""
    import argparse

    from wheretolearn import stages, validation_memo
    from wheretolearn.experiments.fewshot import config
    from wheretolearn.paths import Layout

    monkeypatch.setattr(validation_memo, "_memo", {"path": None, "keys": None})
    monkeypatch.setattr(stages, "layout", lambda: Layout(tmp_path))
    validated, parse = [], config.parse
    monkeypatch.setattr(config, "parse", lambda data: validated.append(1) or parse(data))

    def job(cell_, out):
        args = argparse.Namespace(family="fewshot", cell=cell_, profile="smoke", out=tmp_path / out)
        assert stages.compose(args) == 0
        return yaml.safe_load((tmp_path / out).read_text())

    first = job("maml/5shot", "a.yaml")
    assert validated == [1] and (tmp_path / ".snakemake/wheretolearn/validated").is_file()
    assert job("maml/5shot", "b.yaml") == first and validated == [1]  # from the memo
    job("anil/5shot", "c.yaml")  # another mapping: validated
    assert validated == [1, 1]


def test_help_imports_no_torch():
    import subprocess
    import sys

    code = "import sys; from wheretolearn.cli import build_parser; build_parser(); "
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
