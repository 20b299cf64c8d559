"""Online learning on a task-switching stream: ``python -m wheretolearn train --family online
--params P --out D``.

A run folder holds ``params.yaml`` (the validated parameters and seed), ``last.pt`` (the full
state every ``train.checkpoint_every`` steps and at the end: a killed job resumes at its last
checkpoint and ends with the same numbers), ``metrics.jsonl`` (the sparsity trace: one line
per ``train.log_every`` steps with the rule's per-tensor gradient sparsity, Figure S5) and
``summary.json`` (cumulative online accuracy, total and per mode, in percent; the switch
detector's precision and recall; Table S9's hyperparameters; the final sparsity; the stream).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from wheretolearn.algorithms.engine import resolve_device
from wheretolearn.algorithms.online import online_rule
from wheretolearn.algorithms.online.baselines import OnlinePretrained, OnlineSupervised
from wheretolearn.algorithms.online.learner import OnlineCMAML, OnlineOptions
from wheretolearn.algorithms.online.run import run_online
from wheretolearn.algorithms.online.stream import OnlineStream
from wheretolearn.algorithms.rules.base import sparsity_record
from wheretolearn.errors import ConfigError
from wheretolearn.experiments.online.config import (
    OnlineConfig,
    OptimizerConfig,
    PretrainedConfig,
    SupervisedConfig,
    parse,
)
from wheretolearn.files import write_text_atomic
from wheretolearn.models.conv4 import Conv4
from wheretolearn.run_folder import RunFolder
from wheretolearn.seeding import derive_seed
from wheretolearn.validate import load, parse_overrides

log = logging.getLogger(__name__)
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def build_stream(config: OnlineConfig, seed: int, root=None) -> OnlineStream:
    """The stream of a run: every mode's registry pools, then the seeded switching stream."""
    from wheretolearn.data.online import load_mode

    modes = [
        load_mode(
            name,
            [tuple(s) for s in mode.sources],
            weight=mode.weight,
            labels=mode.labels,
            root=root,
            scale=mode.scale,
        )  # fmt: skip
        for name, mode in config.stream.modes.items()
    ]
    s = config.stream
    return OnlineStream(modes, p=s.p, steps=s.steps, seed=seed, ways=s.ways, shots=s.shots)


def build_pretrain_pool(config: OnlineConfig, root=None):
    """The pre-training pool of a fine-tuning or never-retrain run (None without pre-training):
    the sources of ``learner.pretrain.split`` in the stream's ``learner.pretrain.mode``."""
    from wheretolearn.data.online import load_mode

    pre = getattr(config.learner, "pretrain", None)
    if pre is None:
        return None
    mode = config.stream.modes[pre.mode]
    sources = [tuple(s) for s in mode.sources if s[1] == pre.split]
    return load_mode(pre.mode, sources, weight=1.0, labels=mode.labels, root=root,
                     scale=mode.scale)  # fmt: skip


def pretrain_rule(config: OnlineConfig) -> tuple[dict[str, Any], int]:
    """The rule and inner steps of a run's pre-training: fine-tuning's own MAML step and steps
    (``learner.pretrain.alpha``, ``.inner_steps``), never-retrain's the run's rule and
    ``learner.inner_steps``, which the stream adapts with too."""
    learner = config.learner
    if isinstance(learner, PretrainedConfig):
        return config.method, learner.inner_steps
    pre = learner.pretrain
    return {"name": "maml", "alpha": pre.alpha}, pre.inner_steps


def _pretrain(config: OnlineConfig, learner, pool, seed: int) -> dict[str, Any]:
    from wheretolearn.algorithms.online.pretrain import PretrainOptions, pretrain

    pre = config.learner.pretrain
    method, inner_steps = pretrain_rule(config)
    skip = ("mode", "split", "inner_steps", "alpha")
    fields = {k: v for k, v in dataclasses.asdict(pre).items() if k not in skip}
    options = PretrainOptions(ways=config.stream.ways, inner_steps=inner_steps, **fields)
    losses = pretrain(learner.model, pool, options, seed, method)
    log.info("pre-trained on %s (%d classes): query loss %.3f -> %.3f", pre.mode,
             len(torch.unique(pool.labels)), losses[0], losses[-1])  # fmt: skip
    return {"classes": len(torch.unique(pool.labels)), "first_loss": losses[0],
            "last_loss": losses[-1], "losses": losses}  # fmt: skip


def _optimizer(spec: OptimizerConfig | None, tensors: list, what: str, rule: str):
    if tensors and spec is None:
        raise ConfigError(f"train.{what}: the rule {rule!r} has meta-parameters; give their "
                          "optimiser {name, lr} (lr: gamma_m)")  # fmt: skip
    if not tensors and spec is not None:
        raise ConfigError(f"train.{what}: the rule {rule!r} has no meta-parameters; set it null")
    return None if spec is None else OPTIMIZERS[spec.name](tensors, lr=spec.lr)


def build(config: OnlineConfig, stream: OnlineStream,
          seed: int) -> OnlineCMAML | OnlineSupervised | OnlinePretrained:  # fmt: skip
    """Model, rule, optimisers and learner of a run, initialised from ``seed`` alone."""
    torch.manual_seed(derive_seed(seed, "init"))
    dtype, device = getattr(torch, config.train.dtype), resolve_device(config.train.device)
    _, channels, size, _ = stream.modes[0].images.shape
    m = config.model
    model = Conv4(channels, stream.ways, size, hidden=m.hidden, bias=m.bias, transductive=True)
    model = model.to(device=device, dtype=dtype)
    if isinstance(config.learner, SupervisedConfig):
        theta_opt = _optimizer(config.train.theta_optimizer, list(model.parameters()),
                               "theta_optimizer", config.learner.name)  # fmt: skip
        return OnlineSupervised(model, theta_opt, config.learner.steps)
    name = config.method["name"]
    if isinstance(config.learner, PretrainedConfig):
        rule = online_rule(config.method, model).to(device=device, dtype=dtype)
        if list(rule.parameters()):
            raise ConfigError(f"method: never-retrain learns theta alone; the rule {name!r} has "
                              "meta-parameters (use maml or anil)")  # fmt: skip
        return OnlinePretrained(model, rule, config.learner.inner_steps)
    rule = online_rule(config.method, model, adapt_batchnorm=config.learner.adapt_batchnorm)
    rule = rule.to(device=device, dtype=dtype)
    theta_opt = _optimizer(config.train.theta_optimizer, list(model.parameters()),
                           "theta_optimizer", name)  # fmt: skip
    meta_opt = _optimizer(config.train.meta_optimizer, list(rule.parameters()),
                          "meta_optimizer", name)  # fmt: skip
    options = OnlineOptions(**config.learner.options())
    return OnlineCMAML(model, rule, options, theta_opt, meta_opt)


def hyperparameters(config: OnlineConfig) -> dict[str, float | None]:
    """Table S9's columns: alpha_0 (the rule's alpha: a fixed step, a mask's open step or
    C-MAML's initial step sizes; none for sparse-ReLU) and gamma_m (the meta-parameters'
    learning rate; none without meta-parameters)."""
    meta = config.train.meta_optimizer
    alpha = None if config.method is None else config.method.get("alpha")
    return {"alpha_0": alpha, "gamma_m": None if meta is None else meta.lr}


def summarise(out: dict[str, Any], learner, config: OnlineConfig, stream, seed: int,
              wall: float) -> dict[str, Any]:  # fmt: skip
    rule = learner.rule  # None: a baseline without an update rule, nothing to be sparse
    end = sparsity_record(rule) if rule is not None else {"sparsity_per_tensor": None,
                                                          "sparsity": None}  # fmt: skip
    return {
        **out["metrics"],
        "hyperparameters": hyperparameters(config),
        "sparsity": {"final": end["sparsity_per_tensor"], "final_overall": end["sparsity"]},
        "parameters": sparsity_shapes(rule) if rule is not None else {},
        "stream": stream.describe(),
        "wall_s": wall,
        "seed": seed,
    }


def sparsity_shapes(rule) -> dict[str, int]:
    """Elements of every tensor the rule adapts (the weights of the per-layer averages)."""
    return {n: int(torch.Size(s).numel()) for n, s in rule.shapes.items()}


def _write_trace(folder: RunFolder, trace: list[dict[str, Any]]) -> None:
    write_text_atomic(folder.path / "metrics.jsonl", "".join(json.dumps(e) + "\n" for e in trace))


def run(config: OnlineConfig, out: Path, *, seed: int, stream: OnlineStream,
        replace_stale: bool = False, pool=None) -> dict[str, Any]:  # fmt: skip
    """Learn ``stream`` (or resume) in ``out``; write and return the result. A finished run's
    ``summary.json`` is re-created from its ``last.pt`` if it is missing. A fine-tuning run
    or never-retrain run pre-trains theta on ``pool`` first (``pretrain.json``); a resumed one
    has it in its checkpoint."""
    with RunFolder(out, {"seed": seed, **config.to_dict()}, replace_stale=replace_stale) as folder:
        learner = build(config, stream, seed)
        saved = folder.load("last.pt")
        folder.write_params()
        started = time.perf_counter() - (saved["wall_s"] if saved else 0.0)
        pre_path = folder.path / "pretrain.json"
        if getattr(config.learner, "pretrain", None) is not None and saved is None:
            if pool is None:
                raise ConfigError("learner.pretrain: this run pre-trains; give its pool")
            write_text_atomic(pre_path, json.dumps(_pretrain(config, learner, pool, seed)))

        def checkpoint(state: dict[str, Any]) -> None:
            folder.save("last.pt", {"online": state, "wall_s": time.perf_counter() - started})
            _write_trace(folder, state["trace"])
            so_far = state["metrics"]
            log.info("step %d: accuracy so far %.1f%%", state["next_step"],
                     100 * so_far["total"] / max(1, so_far["steps"]))  # fmt: skip

        if saved:
            log.info("resuming %s at step %d", folder.path, saved["online"]["next_step"])
        result = run_online(learner, stream, state=saved["online"] if saved else None,
                            log_every=config.train.log_every,
                            checkpoint_every=config.train.checkpoint_every,
                            on_checkpoint=checkpoint)  # fmt: skip
        _write_trace(folder, result["trace"])
        summary = summarise(result, learner, config, stream, seed, time.perf_counter() - started)
        if pre_path.exists():
            pre = json.loads(pre_path.read_text())
            summary["pretrain"] = {k: pre[k] for k in ("classes", "first_loss", "last_loss")}
        write_text_atomic(folder.path / "summary.json", json.dumps(summary, indent=1))
        return summary


def main(args: argparse.Namespace) -> dict[str, Any]:
    """The ``train`` command of the family: one stream of ``--params`` into ``--out``."""
    config = load(args.params, parse_overrides(args.set), parse)
    stream = build_stream(config, args.seed, args.data_root)
    result = run(config, Path(args.out), seed=args.seed, stream=stream,
                 replace_stale=args.replace_stale,
                 pool=build_pretrain_pool(config, args.data_root))  # fmt: skip
    keys = ("accuracy", "precision", "recall", "wall_s")
    print(json.dumps({k: result[k] if result[k] is None else round(result[k], 3) for k in keys}))
    return result
