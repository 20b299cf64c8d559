"""The pipeline's stages, written once over the experiment families: the functions the
command line (and so every Snakemake job) calls."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import yaml

from wheretolearn import params, validation_memo
from wheretolearn.errors import UserError
from wheretolearn.experiments import Family, family, family_of
from wheretolearn.files import write_text_atomic
from wheretolearn.paths import layout


def compose(args: argparse.Namespace) -> int:
    """Write one cell's composed parameters (the train job's input). The DAG build that
    schedules this job has validated the same mapping with the same code: its memo spares the
    job a second validation (a torch import, ~1.4 s); the training validates in full."""
    validation_memo.enable(layout().validated())
    write_params(Path(args.out), family(args.family).compose(args.cell, args.profile))
    return 0


def write_params(path: Path, composed: dict) -> None:
    """A composed parameter mapping as the train job reads it (keys in composition order)."""
    write_text_atomic(path, yaml.safe_dump(composed, sort_keys=False))


def train(args: argparse.Namespace) -> int:
    """Train one run of a params file into a run folder (resumed if it exists)."""
    owner = family(args.family)
    if getattr(args, "init_from", None) and type(owner).first_phase is Family.first_phase:
        raise UserError(f"--init-from: the {owner.name} family has no two-phase runs")
    owner.train(args)
    return 0


def table(args: argparse.Namespace) -> int:
    owner = family_of(args.table)
    params.section(args.profile, owner.name)  # a family the profile does not cover: refused
    for path in owner.write_table(args.table, args.profile):
        print(path)
    return 0


def figure(args: argparse.Namespace) -> int:
    from wheretolearn.figures import FIGURES

    owner = family_of(args.figure)
    params.section(args.profile, owner.name)
    for path in FIGURES.get(args.figure)(args.profile):
        print(path)
    return 0


def metrics(owner: Family, profile: str) -> dict[str, dict[str, float]]:
    """Every cell's mean of the family's metric tables, keyed by table then
    ``setting/method/dataset`` (DVC's metrics); tables with several metrics per cell (the
    continual ones) add ``/metric``."""
    params.section(profile, owner.name)
    out = {}
    for name in owner.metric_tables(profile):
        path = layout().table_files(profile, owner.name, name)[0]
        with path.open() as fh:
            rows = [r for r in csv.DictReader(fh) if r["mean"]]
        several = len({r["metric"] for r in rows}) > 1
        out[name] = {
            f"{r['setting']}/{r['method']}/{r['dataset']}"
            + (f"/{r['metric']}" if several else ""): round(float(r["mean"]), 4)
            for r in rows
        }
    return out


def metrics_main(args: argparse.Namespace) -> int:
    values: dict[str, Any] = metrics(family(args.family), args.profile)
    write_text_atomic(Path(args.out), json.dumps(values, indent=2))
    return 0


def pull(args: argparse.Namespace) -> int:
    from wheretolearn.dvc import pull_cached

    pull_cached(args.profile)
    return 0
