"""An online run's parameters: an update rule inside C-MAML+UM+PAP, on a task-switching
stream, validated once and recorded in full (a value the paper or the authors' code sets has
no default here: a params file that omits it is refused, naming the key).

``learner`` holds :class:`wheretolearn.algorithms.online.learner.OnlineOptions`' fields (all
required) and ``adapt_batchnorm``; the two are kept in step by a test. A learner named
``online-adam`` (:class:`SupervisedConfig`) is the baseline without meta-learning
(:class:`wheretolearn.algorithms.online.baselines.OnlineSupervised`): no update rule, no meta
optimiser. A learner named ``never-retrain`` (:class:`PretrainedConfig`) is the authors' MAML
and ANIL baselines (:class:`wheretolearn.algorithms.online.baselines.OnlinePretrained`): theta
meta-trained by the run's rule before the stream, then never updated (``train.theta_optimizer``
null: the pre-training's Adam rate is ``learner.pretrain.lr``, as fine-tuning's). Validation
imports no torch beyond the rules' options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from wheretolearn.errors import ConfigError
from wheretolearn.validate import (
    Count,
    Device,
    Fraction,
    NonNegative,
    Positive,
    Ways,
    from_dict,
    record,
    when_set,
)


@dataclass(frozen=True, kw_only=True)
class ModeConfig:
    """One mode of the stream: its weight in the mode draw, the registry pools it joins
    (``[dataset, split]`` pairs), whether their labels are disjoint or shared, and the factor
    on its [0, 1] pixels (the authors leave MNIST and Fashion-MNIST at 255)."""

    weight: Positive
    sources: list[list[str]]
    labels: Literal["disjoint", "shared"]
    scale: Positive

    def __post_init__(self) -> None:
        if not self.sources or any(len(pair) != 2 for pair in self.sources):
            raise ConfigError(f"sources: expected [dataset, split] pairs, got {self.sources!r}")


@dataclass(frozen=True, kw_only=True)
class OnlineStreamConfig:
    """The task-switching stream: ``steps`` batches of ``ways``-way ``shots``-shot tasks; the
    task switches with probability ``1 - p`` at each step."""

    p: Fraction
    steps: Count
    ways: Ways
    shots: Count
    modes: dict[str, ModeConfig]

    def __post_init__(self) -> None:
        if self.p >= 1:
            raise ConfigError(
                f"stream.p: {self.p} must be below 1 (the task must be able to switch)"
            )
        if not self.modes:
            raise ConfigError("stream.modes: at least one mode is needed")


@dataclass(frozen=True, kw_only=True)
class LearnerConfig:
    """C-MAML+UM+PAP's settings (``OnlineOptions``) and which tensors the inner loop adapts."""

    inner_steps: Count  # the authors' num_steps
    gamma: Positive  # switch-detection threshold on the loss drop (cl_tbd_thres)
    full_buffer: Count  # forced meta-update above this many buffered batches
    first_order: bool  # the meta-update's inner loop
    um_lambda: NonNegative | None  # UM weight 1 - exp(-lambda L); null: off
    gate_theta: bool  # zero theta's meta-gradient where the rule's step is 0
    adapt_batchnorm: bool  # adapt BatchNorm affines in the inner loop too
    name: Literal["c-maml"] = when_set("c-maml")

    def options(self) -> dict[str, Any]:
        """The ``OnlineOptions`` keyword arguments."""
        skip = ("adapt_batchnorm", "name")
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


@dataclass(frozen=True, kw_only=True)
class SupervisedConfig:
    """Online Adam (the C-MAML authors' ``online_sgd``): theta itself predicts each batch,
    then takes ``steps`` steps of ``train.theta_optimizer`` on it; no rule, no detector."""

    name: Literal["online-adam"]
    steps: Count  # optimiser steps per batch (the authors' one)
    pretrain: PretrainConfig | None = when_set(None)  # fine-tuning: theta pre-trained first


@dataclass(frozen=True, kw_only=True)
class PretrainedConfig:
    """MAML or ANIL pre-trained, then never retrained (the C-MAML authors' ``MAML`` and
    ``ANIL``, ``cl_strategy never_retrain``): theta is meta-trained on tasks of ``pretrain``'s
    pool, each support adapted by the run's rule (``method``) in ``inner_steps`` steps; on the
    stream each batch is scored by phi adapted from theta on the batch before, then adapted on
    in the same ``inner_steps`` steps of the same rule. No optimiser, no detector."""

    name: Literal["never-retrain"]
    inner_steps: Count  # the pre-training's and the stream's (the authors' num_steps)
    pretrain: PretrainConfig  # its inner_steps and alpha are this learner's and method.alpha


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    """Meta-training of theta on tasks of one pool: the stream's ``mode``'s sources of split
    ``split`` (:class:`wheretolearn.algorithms.online.pretrain.PretrainOptions`' other fields;
    ways are the stream's). Fine-tuning's is MAML with its own ``inner_steps`` and ``alpha``
    (required there); never-retrain's takes the run's rule and inner steps (refused here)."""

    mode: str
    split: str
    meta_batches: Count
    tasks: Count  # tasks per meta-batch (the authors' batch_size)
    shots: Count
    queries: Count
    inner_steps: Count | None = when_set(None)  # fine-tuning only
    alpha: Positive | None = when_set(None)  # fine-tuning only: MAML's inner step
    first_order: bool
    lr: Positive  # Adam's rate on theta (the authors' meta_lr during pre-training)


@dataclass(frozen=True, kw_only=True)
class OnlineModelConfig:
    """The authors' conv4 (``ModelConvOmniglot``): width ``hidden``, batch statistics always."""

    name: Literal["conv4"]
    hidden: Count
    bias: bool
    batchnorm: Literal["transductive"]  # nn.BatchNorm2d(track_running_stats=False)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    name: Literal["adam", "sgd"]
    lr: Positive


@dataclass(frozen=True, kw_only=True)
class OnlineTrainConfig:
    """The optimisers of theta on the stream (null for a learner that never updates it:
    never-retrain) and of the rule's meta-parameters (null for a rule without any:
    C-MAML-fixed), the sparsity trace and checkpoint periods, precision and device."""

    theta_optimizer: OptimizerConfig | None  # the authors' meta_lr; null: never-retrain
    meta_optimizer: OptimizerConfig | None  # gamma_m (Table S9)
    log_every: Count  # stream steps between sparsity-trace records (Figure S5)
    checkpoint_every: Count  # stream steps between checkpoints (last.pt)
    dtype: Literal["float32", "float64"] = "float32"
    device: Device = "auto"


@dataclass(frozen=True, kw_only=True)
class OnlineConfig:
    """One online run: an update rule (``method``) inside C-MAML (``learner``), a baseline
    learner without a rule (``method`` null), or a pre-trained one with a rule."""

    method: dict[str, Any] | None  # the update rule, as in the other families (name + options)
    learner: LearnerConfig | SupervisedConfig | PretrainedConfig
    stream: OnlineStreamConfig
    model: OnlineModelConfig
    train: OnlineTrainConfig
    notes: str = ""

    def __post_init__(self) -> None:
        pre = getattr(self.learner, "pretrain", None)
        if pre is not None and pre.mode not in self.stream.modes:
            raise ConfigError(f"learner.pretrain.mode: {pre.mode!r} is not a stream mode "
                              f"({', '.join(self.stream.modes)})")  # fmt: skip
        if pre is not None and pre.split not in [s for _, s in self.stream.modes[pre.mode].sources]:
            raise ConfigError(f"learner.pretrain.split: mode {pre.mode} has no {pre.split!r} "
                              "source")  # fmt: skip
        if isinstance(self.learner, SupervisedConfig):
            if self.method is not None or self.train.meta_optimizer is not None:
                raise ConfigError(
                    f"learner {self.learner.name}: no update rule and no meta-parameters; set "
                    "method and train.meta_optimizer null"
                )
            for key in ("inner_steps", "alpha"):
                if pre is not None and getattr(pre, key) is None:
                    raise ConfigError(f"missing key learner.pretrain.{key} (fine-tuning's MAML "
                                      "pre-training has its own)")  # fmt: skip
        elif self.method is None:
            what = "C-MAML" if isinstance(self.learner, LearnerConfig) else "never-retrain"
            raise ConfigError(f"method: {what} needs an update rule ({{name: ..., options}})")
        if isinstance(self.learner, PretrainedConfig):
            self._check_pretrained(self.learner)
        elif self.train.theta_optimizer is None:
            raise ConfigError(f"train.theta_optimizer: learner {self.learner.name} updates theta "
                              "on the stream; give its optimiser {name, lr}")  # fmt: skip

    def _check_pretrained(self, learner: PretrainedConfig) -> None:
        """never-retrain: no optimiser on the stream, no meta-parameters, and the rule's step
        and inner steps stated once (method.alpha, learner.inner_steps)."""
        if self.train.theta_optimizer is not None:
            raise ConfigError("train.theta_optimizer: never-retrain never updates theta on the "
                              "stream; set it null (its pre-training's Adam rate is "
                              "learner.pretrain.lr)")  # fmt: skip
        if self.train.meta_optimizer is not None:
            raise ConfigError("train.meta_optimizer: never-retrain learns no meta-parameters; "
                              "set it null")  # fmt: skip
        pre = learner.pretrain
        for key, value, source in (
            ("inner_steps", learner.inner_steps, "learner.inner_steps"),
            ("alpha", self.method.get("alpha"), "method.alpha"),
        ):
            given = getattr(pre, key)
            if given is not None:
                clash = f" ({given} contradicts {value})" if given != value else ""
                raise ConfigError(
                    f"learner.pretrain.{key}: never-retrain pre-trains and adapts with the same "
                    f"{source}{clash}; remove it"
                )

    def to_dict(self) -> dict[str, Any]:
        """What the run records and is identified by (``when_set`` fields only when set)."""
        return record(self)


def parse(data: dict[str, Any]) -> OnlineConfig:
    """Validate an online run's params: the sections and the rule's options."""
    from wheretolearn.algorithms.rules.base import method_options
    from wheretolearn.validate import resolved

    config = from_dict(OnlineConfig, data)
    if config.method is None:
        return config
    return dataclasses.replace(
        config, method=resolved(config.method, method_options(config.method))
    )
