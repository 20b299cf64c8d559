"""Meta-testing of a trained run: ``python -m wheretolearn evaluate --run DIR [--dataset D]``.

Loads the run's best-validation checkpoint, adapts to ``eval.tasks`` fixed test tasks with
K_test inner steps (per target dataset when ``eval.targets`` names one, Table S2) and writes the
mean accuracy with its 95% confidence interval and the model's gradient sparsity as JSON;
where the run kept several best-validation states (``train.keep_best``), also the accuracy of
their snapshot ensemble on the same tasks.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from wheretolearn.algorithms.episodic import ensemble_accuracies, evaluate_tasks, mean_ci95
from wheretolearn.algorithms.rules.base import sparsity_record
from wheretolearn.data.sources import EpisodeSource, TaskSource
from wheretolearn.errors import UserError
from wheretolearn.experiments.fewshot.config import RunConfig, parse
from wheretolearn.experiments.fewshot.setup import Setup, build_setup
from wheretolearn.files import write_text_atomic
from wheretolearn.run_folder import identity, load_bound, load_into
from wheretolearn.seeding import derive_seed


def load_run(run: Path) -> tuple[RunConfig, int]:
    path = run / "params.yaml"
    if not path.exists():
        raise UserError(f"{run} is not a run folder (no params.yaml); train it first")
    data = yaml.safe_load(path.read_text())
    seed = data.pop("seed")
    return parse(data), seed


def restore_best(run: Path, config: RunConfig, seed: int, info) -> Setup:
    """The run's best-validation model, refused if ``best.pt`` was not written by the run that
    ``params.yaml`` describes (an edited params.yaml, a checkpoint copied from another run)."""
    setup = build_setup(config, info, seed, optimizers=False)
    path = run / "best.pt"
    state = load_bound(path, identity({"seed": seed, **config.to_dict()}))
    load_into(setup.model, state["model"], path, "model")
    load_into(setup.rule, state["rule"], path, "update rule")
    return setup


def restore_ensemble(run: Path, config: RunConfig, seed: int, info) -> list[Setup]:
    """The snapshot ensemble's members (``ensemble.pt``: the ``train.keep_best`` best
    validated states), bound to the run's parameters as ``best.pt`` is."""
    path = run / "ensemble.pt"
    if not path.exists():
        raise UserError(
            f"{path} is missing: train.keep_best is {config.train.keep_best} but the run kept "
            "fewer validated states (raise train.epochs / lower train.validate_every), or it "
            "was trained before ensembles were kept; train it again"
        )
    state = load_bound(path, identity({"seed": seed, **config.to_dict()}))
    members = []
    for i, member in enumerate(state["members"]):
        setup = build_setup(config, info, seed, optimizers=False)
        load_into(setup.model, member["model"], path, f"member {i} model")
        load_into(setup.rule, member["rule"], path, f"member {i} update rule")
        members.append((setup, member["epoch"]))
    return members


def evaluate_ensemble(
    members: list, source: TaskSource, *, dataset: str, split: str, steps: int, tasks: int
) -> dict[str, Any]:
    """The snapshot ensemble's accuracy on the same test tasks as :func:`evaluate`."""
    cfg = members[0][0].config.eval
    batches = source.batches(
        split, seed=derive_seed(cfg.seed, dataset, split), num_batches=tasks, meta_batch_size=1
    )
    torch.manual_seed(derive_seed(cfg.seed, "test-noise"))
    setups = [setup for setup, _ in members]
    pairs = [(setup.model, setup.rule) for setup in setups]
    accs = ensemble_accuracies(pairs, map(setups[0].to_device, batches), steps)
    mean, ci = mean_ci95(accs)
    epochs = [epoch for _, epoch in members]
    return {"ensemble_accuracy": mean, "ensemble_ci95": ci, "ensemble_epochs": epochs}


def evaluate(
    setup: Setup,
    source: TaskSource,
    *,
    dataset: str,
    split: str = "test",
    inner_steps: int | None = None,
    tasks: int | None = None,
) -> dict[str, Any]:
    """Accuracy over fixed test tasks: the same tasks for every method and seed."""
    cfg = setup.config.eval
    steps = inner_steps or cfg.targets.get(dataset, cfg.inner_steps)
    n = tasks or cfg.tasks
    batches = source.batches(
        split, seed=derive_seed(cfg.seed, dataset, split), num_batches=n, meta_batch_size=1
    )
    torch.manual_seed(derive_seed(cfg.seed, "test-noise"))
    with tqdm(total=n, desc=f"evaluate {dataset}/{split}", leave=False, disable=None) as bar:
        accs = evaluate_tasks(
            setup.model, setup.rule, map(setup.to_device, batches), steps, progress=bar
        )
    mean, ci = mean_ci95(accs)
    return {
        "dataset": dataset,
        "split": split,
        "inner_steps": steps,
        "tasks": n,
        "accuracy": mean,
        "ci95": ci,
        **sparsity_record(setup.rule),
    }


def main(args: argparse.Namespace) -> int:
    """The ``evaluate`` command: a trained run's best model on a dataset's test tasks."""
    run = Path(args.run)
    config, seed = load_run(run)
    dataset = args.dataset or config.data.dataset
    device = config.train.device
    train_source = EpisodeSource(config.data, root=args.data_root, device=device)
    source = EpisodeSource(
        replace(config.data, dataset=dataset),
        root=args.data_root,
        image_size=train_source.info.image_size,
        device=device,
    )
    if source.info.channels != train_source.info.channels:
        raise UserError(
            f"{dataset} has {source.info.channels} channels but the model was "
            f"trained on {train_source.info.channels}"
        )
    setup = restore_best(run, config, seed, train_source.info)
    result = evaluate(setup, source, dataset=dataset, split=args.split)
    if config.train.keep_best > 1:
        members = restore_ensemble(run, config, seed, train_source.info)
        steps, tasks = result["inner_steps"], result["tasks"]
        kw = {"dataset": dataset, "split": args.split, "steps": steps, "tasks": tasks}
        result.update(evaluate_ensemble(members, source, **kw))
    result["run"] = str(run)
    out = Path(args.out) if args.out else run / f"eval-{dataset}-{args.split}.json"
    write_text_atomic(out, json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "sparsity_per_tensor"}))
    return 0
