"""Few-shot meta-training with model selection: ``python -m wheretolearn train --family
fewshot --params P --out DIR``.

A run folder holds ``params.yaml`` (the validated, resolved parameters and seed), ``last.pt``
(everything needed to resume), ``best.pt`` (the best-validation model: *the* model),
``ensemble.pt`` where ``train.keep_best`` keeps more than one (the best-validation states of a
snapshot ensemble), ``metrics.jsonl`` (one line per epoch: loss, accuracy, per-tensor gradient
sparsity, validation accuracy), ``summary.json`` and ``timing.json`` (wall seconds of the
finished epochs, training and validation, summed over the attempts of a resumed run; the only
output that is not a pure function of the params and seed). Every epoch is a pure function of
(params, seed, epoch, state at its start), so a killed job restarted on the same folder ends
with the same weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from wheretolearn.algorithms.episodic import (
    clip_gradients,
    evaluate_tasks,
    mean_ci95,
    meta_train_step,
)
from wheretolearn.algorithms.rules.base import sparsity_record
from wheretolearn.algorithms.schedules import cosine_lr, first_order_in, step_weights
from wheretolearn.data.sources import EpisodeSource, TaskSource
from wheretolearn.experiments.fewshot.config import RunConfig, parse
from wheretolearn.experiments.fewshot.phases import first_phase, load_theta
from wheretolearn.experiments.fewshot.setup import Setup, build_setup
from wheretolearn.files import write_text_atomic
from wheretolearn.run_folder import RunFolder, load_into
from wheretolearn.seeding import derive_seed
from wheretolearn.validate import load, parse_overrides

log = logging.getLogger(__name__)


def _restore(setup: Setup, folder: RunFolder, first: Path | None) -> dict[str, Any]:
    """The progress of the run in ``folder`` (epoch, history, best state), restoring the model,
    rule and optimisers from its ``last.pt``; a fresh start without one (from the first phase's
    theta where ``first`` is a run folder)."""
    state = folder.load("last.pt")
    if state is None:  # epoch 0 records the initial sparsity (Figure 1)
        origin = {"init_from": load_theta(setup.model, first)} if first else {}
        initial = {"epoch": 0, **sparsity_record(setup.rule)}
        return {"epoch": 0, "history": [initial], "best": None, **origin}
    last = folder.path / "last.pt"
    load_into(setup.model, state["model"], last, "model")
    load_into(setup.rule, state["rule"], last, "update rule")
    if setup.theta_opt is not None:
        setup.theta_opt.load_state_dict(state["theta_opt"])
    if setup.meta_opt is not None:
        setup.meta_opt.load_state_dict(state["meta_opt"])
    log.info("resuming %s after epoch %d", folder.path, state["epoch"])
    best = state.get("best")
    if best is None and state["epoch"] > 0:  # a last.pt from before the best state was kept
        best = folder.load("best.pt")
    kept = {k: state[k] for k in ("init_from", "top", "seconds") if k in state}
    return {"epoch": state["epoch"], "history": state["history"], "best": best, **kept}


def _checkpoint(setup: Setup, folder: RunFolder, progress: dict[str, Any]) -> None:
    """``last.pt``: everything to resume, and to re-create every output (the best state too)."""
    state = {
        "model": setup.model.state_dict(),
        "rule": setup.rule.state_dict(),
        **progress,
    }
    if setup.theta_opt is not None:
        state["theta_opt"] = setup.theta_opt.state_dict()
    if setup.meta_opt is not None:
        state["meta_opt"] = setup.meta_opt.state_dict()
    folder.save("last.pt", state)
    _write_metrics(folder, progress)


def _write_metrics(folder: RunFolder, progress: dict[str, Any]) -> None:
    lines = "".join(json.dumps(record) + "\n" for record in progress["history"])
    write_text_atomic(folder.path / "metrics.jsonl", lines)


def _snapshot(setup: Setup, epoch: int, val_accuracy: float) -> dict[str, Any]:
    clone = {k: v.detach().clone() for k, v in setup.model.state_dict().items()}
    rule = {k: v.detach().clone() for k, v in setup.rule.state_dict().items()}
    return {"model": clone, "rule": rule, "epoch": epoch, "val_accuracy": val_accuracy}


def _rank(setup: Setup, progress: dict[str, Any], epoch: int, val: float, keep: int) -> None:
    """Keep the ``keep`` best validated states (``top``, best first; a tie keeps the earlier
    epoch): ``best`` is the first, the snapshot ensemble all of them."""
    top = progress.get("top") or ([progress["best"]] if progress["best"] else [])
    if len(top) >= keep and val <= top[-1]["val_accuracy"]:
        return
    top = sorted([*top, _snapshot(setup, epoch, val)], key=lambda s: -s["val_accuracy"])
    progress["top"] = top[:keep]
    progress["best"] = top[0]


def train_epoch(setup: Setup, source: TaskSource, seed: int, epoch: int) -> dict[str, float]:
    """One epoch of meta-training; returns mean outer loss and query accuracy."""
    cfg = setup.config.train
    torch.manual_seed(derive_seed(seed, "epoch", epoch))  # stochastic rules (sparse-MAML+)
    batches = source.batches(
        "train",
        seed=derive_seed(seed, "train", epoch),
        num_batches=cfg.batches_per_epoch,
        meta_batch_size=cfg.meta_batch_size,
    )
    theta = list(setup.model.parameters())
    params = theta + list(setup.rule.parameters())
    clipped = params if cfg.clip_scope == "theta+meta" else theta
    schedule = epoch_schedule(setup, epoch)
    loss_sum, acc_sum = 0.0, 0.0
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None)
    for i, batch in enumerate(bar):
        for p in params:
            p.grad = None
        result = meta_train_step(
            setup.model,
            setup.rule,
            setup.to_device(batch),
            inner_steps=cfg.inner_steps,
            outer_loss=cfg.outer_loss,
            where=f"epoch {epoch + 1} batch {i + 1}",  # 1-based, as the log
            **schedule,
        )
        clip_gradients(clipped, cfg.clip)
        if setup.theta_opt is not None:  # None: theta frozen (a second phase)
            setup.theta_opt.step()
        if setup.meta_opt is not None:
            setup.meta_opt.step()
        loss_sum += result.loss
        acc_sum += result.accuracy
        bar.set_postfix(loss=f"{result.loss:.3f}", acc=f"{result.accuracy:.3f}")
    n = cfg.batches_per_epoch
    return {"loss": loss_sum / n, "accuracy": acc_sum / n}


def epoch_schedule(setup: Setup, epoch: int) -> dict:
    """MAML++'s per-epoch settings (pure functions of the epoch, so a resume takes the same):
    the outer learning rates (cosine annealing) are set on the optimisers; the derivative
    order and the multi-step loss's weights are returned for :func:`meta_train_step`."""
    cfg = setup.config.train
    if cfg.cosine_lr:
        pairs = ((setup.theta_opt, cfg.theta_optimizer), (setup.meta_opt, cfg.meta_optimizer))
        for optimizer, spec in pairs:
            for group in optimizer.param_groups if optimizer is not None else []:
                group["lr"] = cosine_lr(spec.lr, cfg.min_lr, epoch, cfg.epochs)
    weights = step_weights(cfg.inner_steps, epoch, cfg.msl_epochs) if cfg.multi_step_loss else None
    first_order = first_order_in(epoch, cfg.first_order, cfg.first_order_epochs)
    return {"first_order": first_order, "step_weights": weights}


def validate(setup: Setup, source: TaskSource) -> float:
    """Mean accuracy on the fixed validation tasks (the same for every epoch, seed, method)."""
    cfg = setup.config
    steps = cfg.train.val_inner_steps or cfg.eval.inner_steps
    batches = source.batches(
        "val",
        seed=derive_seed(cfg.eval.seed, "val"),
        num_batches=cfg.train.val_tasks,
        meta_batch_size=1,
    )
    torch.manual_seed(derive_seed(cfg.eval.seed, "val-noise"))
    accs = evaluate_tasks(setup.model, setup.rule, map(setup.to_device, batches), steps)
    return mean_ci95(accs)[0]


def train(
    config: RunConfig,
    out: Path,
    *,
    seed: int,
    source: TaskSource,
    replace_stale: bool = False,
    init_from: Path | None = None,
) -> dict[str, Any]:
    """Meta-train (or resume) a run in ``out``; return its summary. A finished run's outputs
    (``best.pt``, ``metrics.jsonl``, ``summary.json``) are re-created from its ``last.pt`` if
    they are missing (Snakemake deletes a job's outputs before running it again). A second
    phase (``train.init_from``) starts from the run folder ``init_from``."""
    params = {"seed": seed, **config.to_dict()}
    first = first_phase(config, seed, init_from)  # checked before anything is written
    with RunFolder(out, params, replace_stale=replace_stale) as folder:
        setup = build_setup(config, source.info, seed)
        progress = _restore(setup, folder, first)
        folder.write_params()
        for epoch in range(progress["epoch"], config.train.epochs):
            _train_and_validate(setup, source, seed, epoch, progress)
            _checkpoint(setup, folder, progress)
        _write_timing(folder, progress, config.train.epochs * config.train.batches_per_epoch)
        return _finish(folder, progress, config.train.epochs)


def _train_and_validate(setup: Setup, source: TaskSource, seed: int, epoch: int, progress):
    cfg, start = setup.config.train, time.perf_counter()
    record = {"epoch": epoch + 1, **train_epoch(setup, source, seed, epoch)}
    record.update(sparsity_record(setup.rule))
    if (epoch + 1) % cfg.validate_every == 0 or epoch + 1 == cfg.epochs:
        record["val_accuracy"] = validate(setup, source)
        _rank(setup, progress, epoch + 1, record["val_accuracy"], cfg.keep_best)
    scalars = {k: v for k, v in record.items() if not isinstance(v, dict)}
    log.info("epoch %d: %s", epoch + 1, scalars)
    progress["history"].append(record)
    progress["epoch"] = epoch + 1
    progress["seconds"] = progress.get("seconds", 0.0) + time.perf_counter() - start


def _finish(folder: RunFolder, progress: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Write the outputs from the progress alone: the best state, the metrics, the summary."""
    best = progress["best"]
    fields = ("model", "rule", "epoch", "val_accuracy")
    folder.save("best.pt", {k: best[k] for k in fields})
    if len(progress.get("top", [])) > 1:  # the snapshot ensemble (train.keep_best)
        members = [{k: s[k] for k in fields} for s in progress["top"]]
        folder.save("ensemble.pt", {"members": members})
    _write_metrics(folder, progress)
    summary = {
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "epochs": epochs,
        "final": progress["history"][-1],
    }
    if "init_from" in progress:
        summary["init_from"] = progress["init_from"]
    write_text_atomic(folder.path / "summary.json", json.dumps(summary, indent=2))
    return summary


def _write_timing(folder: RunFolder, progress: dict[str, Any], iterations: int) -> None:
    """``timing.json``: training wall seconds, per run and per meta-iteration (validation
    included), from the progress: a run re-created from ``last.pt`` keeps its time."""
    seconds = progress.get("seconds", 0.0)
    timing = {"seconds": seconds, "iterations": iterations,
              "seconds_per_iteration": seconds / iterations}  # fmt: skip
    write_text_atomic(folder.path / "timing.json", json.dumps(timing, indent=2))


def main(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` command of the family: one run of ``--params`` into ``--out``."""
    config = load(args.params, parse_overrides(args.set), parse)
    source = EpisodeSource(config.data, root=args.data_root, device=config.train.device)
    summary = train(
        config,
        Path(args.out),
        seed=args.seed,
        source=source,
        replace_stale=args.replace_stale,
        init_from=Path(args.init_from) if getattr(args, "init_from", None) else None,
    )
    print(json.dumps(summary["final"] | {"best_val_accuracy": summary["best_val_accuracy"]}))
    return summary
