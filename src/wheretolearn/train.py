"""Meta-training with model selection: ``python -m wheretolearn train --params P --out DIR``.

A run folder holds ``params.yaml`` (the validated, resolved parameters and seed), ``last.pt``
(everything needed to resume), ``best.pt`` (the best-validation model: *the* model),
``metrics.jsonl`` (one line per epoch: loss, accuracy, per-tensor gradient sparsity, validation
accuracy) and ``summary.json``. Every epoch is a pure function of (params, seed, epoch, state at
its start), so a killed job restarted on the same folder ends with the same weights.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from wheretolearn.algorithms.episodic import (
    clip_gradients,
    evaluate_tasks,
    mean_ci95,
    meta_train_step,
)
from wheretolearn.checkpoint import load, save_atomic, write_text_atomic
from wheretolearn.config import RunConfig, load_config
from wheretolearn.errors import UserError
from wheretolearn.runtime import Setup, TaskSource, build_setup, derive_seed, sparsity_record

log = logging.getLogger(__name__)


def _identity(params: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: every parameter and the seed; not the notes, nor how
    many processes load the batches (batch i is a pure function of the seed)."""
    out = {k: v for k, v in params.items() if k != "notes"}
    if isinstance(out.get("data"), dict):
        out["data"] = {k: v for k, v in out["data"].items() if k != "num_workers"}
    return out


def _check_run_folder(out: Path, config: RunConfig, seed: int, replace_stale: bool) -> None:
    """Refuse to resume a folder that holds a run of other parameters, or, with
    ``replace_stale``, move that run aside to ``<out>.stale-<n>`` and start afresh."""
    resolved = {"seed": seed, **config.to_dict()}
    path = out / "params.yaml"
    if path.exists() and _identity(yaml.safe_load(path.read_text())) != _identity(resolved):
        if not replace_stale:
            raise UserError(
                f"{out} holds a run with other parameters (see {path}); "
                "choose another --out, delete that folder or pass --replace-stale"
            )
        n = 1
        while out.with_name(f"{out.name}.stale-{n}").exists():
            n += 1
        out.rename(out.with_name(f"{out.name}.stale-{n}"))
        log.warning("parameters changed: moved the previous run to %s.stale-%d", out, n)
        out.mkdir(parents=True)
    if not path.exists():
        write_text_atomic(path, yaml.safe_dump(resolved, sort_keys=False))


def _restore(setup: Setup, out: Path) -> dict[str, Any]:
    if not (out / "last.pt").exists():  # epoch 0 records the initial sparsity (Figure 1)
        initial = {"epoch": 0, **sparsity_record(setup.rule)}
        return {"epoch": 0, "history": [initial], "best_val": -1.0}
    state = load(out / "last.pt")
    setup.model.load_state_dict(state["model"])
    setup.rule.load_state_dict(state["rule"])
    setup.theta_opt.load_state_dict(state["theta_opt"])
    if setup.meta_opt is not None:
        setup.meta_opt.load_state_dict(state["meta_opt"])
    log.info("resuming %s after epoch %d", out, state["epoch"])
    return {k: state[k] for k in ("epoch", "history", "best_val")}


def _checkpoint(setup: Setup, out: Path, progress: dict[str, Any]) -> None:
    state = {
        "model": setup.model.state_dict(),
        "rule": setup.rule.state_dict(),
        "theta_opt": setup.theta_opt.state_dict(),
        **progress,
    }
    if setup.meta_opt is not None:
        state["meta_opt"] = setup.meta_opt.state_dict()
    save_atomic(state, out / "last.pt")
    lines = "".join(json.dumps(record) + "\n" for record in progress["history"])
    write_text_atomic(out / "metrics.jsonl", lines)


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
    params = list(setup.model.parameters()) + list(setup.rule.parameters())
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
            first_order=cfg.first_order,
            outer_loss=cfg.outer_loss,
            where=f"epoch {epoch} batch {i}",
        )
        clip_gradients(params, cfg.clip)
        setup.theta_opt.step()
        if setup.meta_opt is not None:
            setup.meta_opt.step()
        loss_sum += result.loss
        acc_sum += result.accuracy
        bar.set_postfix(loss=f"{result.loss:.3f}", acc=f"{result.accuracy:.3f}")
    n = cfg.batches_per_epoch
    return {"loss": loss_sum / n, "accuracy": acc_sum / n}


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
    config: RunConfig, out: Path, *, seed: int, source: TaskSource, replace_stale: bool = False
) -> dict[str, Any]:
    """Meta-train (or resume) a run in ``out``; return its summary."""
    out.mkdir(parents=True, exist_ok=True)
    _check_run_folder(out, config, seed, replace_stale)
    setup = build_setup(config, source.info, seed)
    progress = _restore(setup, out)
    cfg = config.train
    for epoch in range(progress["epoch"], cfg.epochs):
        record = {"epoch": epoch + 1, **train_epoch(setup, source, seed, epoch)}
        record.update(sparsity_record(setup.rule))
        if (epoch + 1) % cfg.validate_every == 0 or epoch + 1 == cfg.epochs:
            record["val_accuracy"] = validate(setup, source)
            if record["val_accuracy"] > progress["best_val"]:
                progress["best_val"] = record["val_accuracy"]
                save_atomic(
                    {
                        "model": setup.model.state_dict(),
                        "rule": setup.rule.state_dict(),
                        "epoch": epoch + 1,
                        "val_accuracy": record["val_accuracy"],
                    },
                    out / "best.pt",
                )
        log.info(
            "epoch %d: %s", epoch + 1, {k: v for k, v in record.items() if not isinstance(v, dict)}
        )
        progress["history"].append(record)
        progress["epoch"] = epoch + 1
        _checkpoint(setup, out, progress)
    best = load(out / "best.pt")
    summary = {
        "best_epoch": best["epoch"],
        "best_val_accuracy": best["val_accuracy"],
        "epochs": cfg.epochs,
        "final": progress["history"][-1],
    }
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    return summary


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key.sub=value`` strings to a mapping; values are read as YAML scalars."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _main(args: argparse.Namespace) -> int:
    from wheretolearn.runtime import EpisodeSource

    config = load_config(args.params, parse_overrides(args.set))
    source = EpisodeSource(config.data, root=args.data_root, device=config.train.device)
    summary = train(
        config, Path(args.out), seed=args.seed, source=source, replace_stale=args.replace_stale
    )
    print(json.dumps(summary["final"] | {"best_val_accuracy": summary["best_val_accuracy"]}))
    return 0
