"""A few-shot run's parameters: typed dataclasses, validated once, every value recorded.

A value the paper sets has no default here: a params file that omits it stops with the key's
name (``missing key train.inner_steps``), so an omission can never silently become a code
default. Defaults remain only for what no paper sets (dtype, device, loader processes, the
optional clipping and validation budget, the test tasks' seed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from wheretolearn.data.config import DataConfig
from wheretolearn.errors import ConfigError
from wheretolearn.models.config import ModelConfig
from wheretolearn.validate import (
    Count,
    Device,
    Fraction,
    NonNegative,
    Positive,
    Size,
    from_dict,
    record,
    resolved,
    when_set,
)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """An outer-loop optimiser: Adam (PyTorch defaults) or SGD with Nesterov momentum."""

    name: Literal["adam", "sgd-nesterov"]
    lr: Positive
    momentum: Fraction = 0.9  # sgd-nesterov only


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    epochs: Count
    batches_per_epoch: Count
    meta_batch_size: Count
    inner_steps: Count  # K_train
    first_order: bool
    outer_loss: Literal["sum", "mean"]  # the authors sum over the tasks of a meta-batch
    theta_optimizer: OptimizerConfig
    meta_optimizer: OptimizerConfig
    validate_every: Count
    val_tasks: Count
    clip: Positive | None = None  # outer gradients clamped to [-clip, clip] elementwise
    # what `clip` clamps: theta only (the authors' code clamps the model's parameters, not the
    # mask's), or theta and the rule's meta-parameters too
    clip_scope: Literal["theta", "theta+meta"] = "theta"
    val_inner_steps: Count | None = None  # None: eval.inner_steps
    # two-phase learning (Table S4): start from another run's best theta (same shots, seed)
    init_from: str | None = None  # that run's name in params/fewshot/runs.yaml
    freeze_theta: bool = False  # learn the rule's meta-parameters only; theta stays fixed
    # best-validation checkpoints kept; over 1, evaluation adds their snapshot ensemble (S1: 3)
    keep_best: Count = 1
    # MAML++'s loop options (Antoniou et al. 2019; algorithms/schedules.py), recorded only
    # when set, so that runs from before them keep their identity
    multi_step_loss: bool = when_set(False)  # MSL: the outer loss scores every inner step
    msl_epochs: Count = when_set(10)  # MSL's weights reach the last step over these epochs
    first_order_epochs: Size = when_set(0)  # DA: first order for these epochs, then second
    cosine_lr: bool = when_set(False)  # CA: outer learning rates cosine-annealed over epochs
    min_lr: NonNegative = when_set(0.0)  # CA's learning rate at the end of training
    dtype: Literal["float32", "float64"] = "float32"
    device: Device = "auto"  # auto: cuda when available, else cpu


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    inner_steps: Count  # K_test
    tasks: Count
    seed: int = 1000  # test tasks are fixed across runs and methods
    targets: dict[str, Count] = field(default_factory=dict)  # dataset -> its own K_test (S2)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    method: dict[str, Any]  # the update rule: name and options (recorded in full)
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    eval: EvalConfig
    notes: str = ""  # free text: where paper and code disagree, which side was chosen and why

    def to_dict(self) -> dict[str, Any]:
        """What the run records and is identified by (``when_set`` fields only when set)."""
        return record(self)


def parse(data: dict[str, Any]) -> RunConfig:
    """Validate a params mapping: the sections, the method's own options (recorded in full in
    the returned config), and the datasets against the registry."""
    from wheretolearn.algorithms.rules.base import method_options

    config = from_dict(RunConfig, data)
    config = dataclasses.replace(
        config, method=resolved(config.method, method_options(config.method))
    )
    _check_data(config)
    _check_keep_best(config.train)
    _check_steps(config)
    if config.train.first_order and config.train.first_order_epochs:
        raise ConfigError(
            "train.first_order_epochs: derivative-order annealing switches to second order "
            "after these epochs, but train.first_order is true; set it false"
        )
    return config


def _check_steps(config: RunConfig) -> None:
    """A rule with per-step meta-parameters (``method.steps``) covers every inner loop."""
    steps = config.method.get("steps")
    if steps is None:
        return
    loops = {"train.inner_steps": config.train.inner_steps,
             "eval.inner_steps": config.eval.inner_steps,
             "train.val_inner_steps": config.train.val_inner_steps or 0,
             **{f"eval.targets.{k}": v for k, v in config.eval.targets.items()}}  # fmt: skip
    for key, length in loops.items():
        if length > steps:
            raise ConfigError(
                f"method.steps: {steps} per-step values but {key} is {length}; raise "
                "method.steps to the longest inner loop"
            )


def _check_keep_best(train: TrainConfig) -> None:
    """A snapshot ensemble of ``keep_best`` states needs as many validations."""
    validations = train.epochs // train.validate_every + (train.epochs % train.validate_every > 0)
    if train.keep_best > validations:
        raise ConfigError(
            f"train.keep_best: {train.keep_best} states kept but only {validations} "
            f"validation(s) in {train.epochs} epochs every {train.validate_every}; lower "
            "train.validate_every or train.keep_best"
        )


def _check_data(config: RunConfig) -> None:
    """The datasets exist and have the classes a task needs (from the registry: no data is
    read), so that ``ways`` larger than a split stops the run before it trains."""
    from wheretolearn.data import registry

    datasets = dict.fromkeys(config.data.parts(), ("train", "val", "test"))
    datasets.update(dict.fromkeys(config.eval.targets, ("test",)))
    for name, splits in datasets.items():
        where = "data.dataset" if name in config.data.parts() else f"eval.targets.{name}"
        if name not in registry.names():
            known = ", ".join(registry.names())
            raise ConfigError(f"{where}: unknown dataset {name!r}; known: {known}")
        classes = registry.get(name).splits
        for split in splits:
            if split in classes and classes[split] < config.data.ways:
                raise ConfigError(
                    f"data.ways: {config.data.ways} is more than the {classes[split]} classes "
                    f"of {name}'s {split} split"
                )
