"""A new update rule and a new experiment family are plug-ins: a module of their own (here in a
temporary folder, named by ``$WHERETOLEARN_PLUGINS``) plus params entries, and the pipeline
composes them into its DAG with no other edit (no list of modules, no rule, no CLI command)."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

SIGN_SGD = '''
import torch
from dataclasses import dataclass
from wheretolearn.algorithms.rules.base import UpdateRule, register
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class SignOptions:
    alpha: Positive


@register("sign-sgd")
class SignSGD(UpdateRule):
    """phi - alpha * sign(g)."""

    Options = SignOptions
    EXAMPLE = {"alpha": 0.01}

    def step(self, k, name, phi, grad, modulation):
        return phi - modulation[name] * torch.sign(grad)
'''

TOY_FAMILY = '''
import json
from pathlib import Path
import yaml
from wheretolearn import params, tables
from wheretolearn.experiments import FAMILIES, Family
from wheretolearn.files import write_text_atomic
from wheretolearn.paths import layout


class Toy(Family):
    """One number per run: the run's value times its seed plus one."""

    name = "toy"

    def cells(self, target):
        return [f"{run}/x" for run in self.declarations()[target]["runs"]]

    def compose(self, cell, profile):
        run = cell.split("/")[0]
        entry = params.family_file("toy", "runs")["runs"][run]
        return {**entry, **params.section(profile, "toy").get("override", {})}

    def datasets(self, cell, profile):
        return []

    def cited(self, target, profile):
        root = layout().root
        return [(self.run_dir(profile, c, s) / "summary.json").relative_to(root)
                for c in self.cells(target) for s in self.seeds(target, profile)]

    def train(self, args):
        value = yaml.safe_load(Path(args.params).read_text())["value"] * (args.seed + 1)
        out = Path(args.out)
        write_text_atomic(out / "metrics.jsonl", "")
        write_text_atomic(out / "summary.json", json.dumps({"value": value}))
        return {}

    def value(self, profile, cell, seed):
        path = self.run_dir(profile, cell, seed) / "summary.json"
        return json.loads(path.read_text())["value"]

    def write_table(self, table, profile):
        rows = []
        for cell in self.cells(table):
            values = [self.value(profile, cell, s) for s in self.seeds(table, profile)]
            mean, std = tables.summarise(values)
            rows.append({"table": table, "setting": "-", "method": cell.split("/")[0],
                         "dataset": "toy", "metric": "value", "mean": mean, "std": std,
                         "n_seeds": len(values), "paper_mean": None, "paper_std": None})
        grid = tables.Grid(rows=("setting", "method"), column="dataset")
        paths = layout().table_files(profile, "toy", table)
        return tables.write(paths, rows, grid, table, [], table)


FAMILIES.register("toy")(Toy())
'''


def snakemake(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(Path(sys.executable).parent / "snakemake"), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture
def tree(tmp_path):
    """A copy of the workflow and params, and a folder of plug-in modules on the path."""
    (tmp_path / "tree").mkdir()
    for name in ("Snakefile", "workflow", "params", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / "tree" / name)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "signsgd.py").write_text(SIGN_SGD)
    (plugins / "toyfamily.py").write_text(TOY_FAMILY)
    path = os.pathsep.join(p for p in [str(plugins), os.environ.get("PYTHONPATH", "")] if p)
    env = {
        **os.environ,
        "PYTHONPATH": path,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return tmp_path / "tree", env


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def job_counts(output: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.M)}


def test_a_new_rule_is_one_module_plus_its_params_entry_and_table_listing(tree):
    root, env = tree
    env = {**env, "WHERETOLEARN_PLUGINS": "signsgd"}
    edit(root / "params/fewshot/runs.yaml", lambda d: d["runs"].update(
        {"sign-sgd": {"from": "maml", "all": {"method": {"name": "sign-sgd", "alpha": 0.01}}}}
    ))  # fmt: skip
    edit(root / "params/fewshot/tables.yaml", lambda d: d["table1"]["runs"].append("sign-sgd"))
    dry = snakemake(root, env, "table1", "-n", "--config", "profile=smoke")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "results/smoke/fewshot/runs/sign-sgd/1shot/seed0/summary.json" in dry.stdout
    assert job_counts(dry.stdout)["train"] == 9 * 2 * 2  # 8 methods and sign-sgd, 2 shots, seeds


def test_a_new_family_is_one_module_plus_its_params_folder_and_profile_section(tree):
    root, env = tree
    env = {**env, "WHERETOLEARN_PLUGINS": "toyfamily"}
    (root / "params/toy").mkdir()
    (root / "params/toy/runs.yaml").write_text("runs:\n  a: {value: 1.0}\n  b: {value: 2.0}\n")
    (root / "params/toy/tables.yaml").write_text(
        "toytable:\n  kind: table\n  title: a toy table\n  runs: [a, b]\n"
    )
    (root / "params/toy/reported.yaml").write_text("{}\n")
    edit(root / "params/profiles/smoke.yaml", lambda d: d.update({"toy": {"description": "toy"}}))
    built = snakemake(root, env, "toytable", "--cores", "1", "--config", "profile=smoke")
    assert built.returncode == 0, built.stdout + built.stderr
    counts = job_counts(built.stdout + built.stderr)
    assert (counts["compose"], counts["train"], counts["table"]) == (2, 4, 1)
    rows = list(csv.DictReader((root / "results/smoke/toy/tables/toytable.csv").open()))
    assert [(r["method"], float(r["mean"])) for r in rows] == [("a", 1.5), ("b", 3.0)]
