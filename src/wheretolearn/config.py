"""Run parameters: typed dataclasses read from a params YAML and validated before anything runs.

Every hyperparameter of a run comes from here. Validation is strict: an unknown key, a missing
key or a value of the wrong type raises :class:`~wheretolearn.errors.ConfigError` naming the key's
full path (``train.inner_steps``), so a typo can never silently fall back to a default.
The ``method`` section is validated against the options class of the update rule it names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from wheretolearn.errors import ConfigError
from wheretolearn.validate import Count, Device, Fraction, Positive, Size, Ways, from_dict, lookup

__all__ = ["from_dict", "lookup"]  # re-exported: the validator lives in wheretolearn.validate


@dataclass(frozen=True)
class OptimizerConfig:
    """An outer-loop optimiser: Adam (PyTorch defaults) or SGD with Nesterov momentum."""

    name: Literal["adam", "sgd-nesterov"] = "adam"
    lr: Positive = 0.001
    momentum: Fraction = 0.9


@dataclass(frozen=True)
class ModelConfig:
    name: Literal["conv4", "resnet12"] = "conv4"
    hidden: Count = 64  # conv4 width (Figure S2)
    size: Literal["small", "large"] = "small"  # resnet12 channels (64,128,256,512)/(64,160,320,640)
    bias: bool = True  # conv and linear biases (Table S3 ablation)
    batchnorm: Literal["transductive", "non-transductive"] = "transductive"


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "omniglot-small"
    ways: Ways = 5
    shots: Count = 1
    queries: Count = 15
    image_size: Count | None = None  # None: the dataset's own size
    normalisation: str | None = None  # None: the dataset's recorded default
    num_workers: Size | None = None  # None: the device's engine plan (algorithms/engine.py)


@dataclass(frozen=True)
class TrainConfig:
    epochs: Count = 400
    batches_per_epoch: Count = 100
    meta_batch_size: Count = 2
    inner_steps: Count = 35  # K_train
    first_order: bool = True
    outer_loss: Literal["sum", "mean"] = "sum"  # the authors sum over the tasks of a meta-batch
    theta_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    meta_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    clip: Positive | None = None  # outer gradients clamped to [-clip, clip] elementwise
    validate_every: Count = 5
    val_tasks: Count = 300
    val_inner_steps: Count | None = None  # None: eval.inner_steps
    dtype: Literal["float32", "float64"] = "float32"
    device: Device = "auto"  # auto: cuda when available, else cpu


@dataclass(frozen=True)
class EvalConfig:
    inner_steps: Count = 100  # K_test
    tasks: Count = 300
    seed: int = 1000  # test tasks are fixed across runs and methods
    targets: dict[str, Count] = field(default_factory=dict)  # dataset -> its own K_test (Table S2)


@dataclass(frozen=True)
class RunConfig:
    method: dict[str, Any]
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    notes: str = ""  # free text: where paper and code disagree, which side was chosen and why

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class StreamConfig:
    """A continual-learning stream: tasks built from a pool of labelled images.

    ``rotations`` and ``permutations`` transform every image of task t by the task's rotation
    angle (drawn from the t-th of ``tasks`` equal bins of [0, 180) degrees) or fixed pixel
    permutation; ``split-classes`` gives task t the classes ``order[t*k:(t+1)*k]``
    (class-incremental, one head). Each task draws ``per_task`` training examples from the
    training pool and is tested on the whole test pool transformed the same way (or on its
    classes for ``split-classes``).
    """

    benchmark: Literal["rotations", "permutations", "split-classes"] = "rotations"
    dataset: str = "mnist"  # registry name of the training pool
    train_split: str = "train"
    test_dataset: str | None = None  # None: the same dataset as the training pool
    test_split: str = "test"
    tasks: Count = 20
    per_task: Count | None = 1000  # training examples per task; None: all of the task's pool
    classes_per_task: Count = 2  # split-classes only
    test_per_task: Count | None = None  # None: the whole (transformed) test pool
    flatten: bool = True  # images as vectors (MLP) or [C, H, W] (convnet)
    seed: int | None = 0  # the stream's own seed (GEM's data are drawn once); None: run seed


@dataclass(frozen=True)
class ContinualModelConfig:
    name: Literal["mlp", "convnet"] = "mlp"
    hidden: list[Count] = field(default_factory=lambda: [100, 100])  # mlp hidden widths
    channels: Count = 160  # convnet: channels of every conv layer (La-MAML's CIFAR network)
    convs: Count = 4  # convnet: 3x3 stride-2 conv layers
    fc: Count = 320  # convnet: width of the two fully-connected layers before the head


@dataclass(frozen=True)
class ContinualTrainConfig:
    batch_size: Count = 10  # incoming examples per step of the stream
    epochs: Count = 1  # passes over each task's data before the next task (1: single pass)
    memories: Size = 200  # replay buffer size (total, all tasks)
    replay_batch_size: Count = 10
    clip_norm: Positive | None = 2.0  # gradient-norm clipping of theta and meta-parameter updates
    log_every: Count = 10  # stream steps between gradient-sparsity records
    dtype: Literal["float32", "float64"] = "float32"
    device: Device = "auto"


@dataclass(frozen=True)
class ContinualConfig:
    """One continual run: an update rule (``method``) inside a learner (``learner``)."""

    method: dict[str, Any]  # the update rule, as in the few-shot runs (name + options)
    learner: dict[str, Any]  # the outer loop variant: lookahead, sgd, er, gem, mer (+ options)
    stream: StreamConfig = field(default_factory=StreamConfig)
    model: ContinualModelConfig = field(default_factory=ContinualModelConfig)
    train: ContinualTrainConfig = field(default_factory=ContinualTrainConfig)
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolved(section: dict[str, Any], options: Any) -> dict[str, Any]:
    """A plug-in's section with every option it uses, defaults included: what a run records."""
    return {"name": section["name"], **dataclasses.asdict(options)}


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Validate a params mapping: the run sections, then the method's own options (recorded
    in full in the returned config: every value the rule uses)."""
    config = from_dict(RunConfig, data)
    from wheretolearn.algorithms.rules import method_options

    options = method_options(config.method)  # raises ConfigError naming method.<key>
    config = dataclasses.replace(config, method=resolved(config.method, options))
    _check_data(config)
    return config


def _check_data(config: RunConfig) -> None:
    """The datasets exist and have the classes a task needs (from the registry: no data is
    read), so that ``ways`` larger than a split stops the run before it trains."""
    from wheretolearn.data import registry

    datasets = {
        config.data.dataset: ("train", "val", "test"),
        **dict.fromkeys(config.eval.targets, ("test",)),
    }
    for name, splits in datasets.items():
        where = "data.dataset" if name == config.data.dataset else f"eval.targets.{name}"
        if name not in registry.names():
            raise ConfigError(
                f"{where}: unknown dataset {name!r}; known: {', '.join(registry.names())}"
            )
        classes = registry.get(name).splits
        for split in splits:
            if split in classes and classes[split] < config.data.ways:
                raise ConfigError(
                    f"data.ways: {config.data.ways} is more than the {classes[split]} classes of "
                    f"{name}'s {split} split"
                )


def parse_continual_config(data: dict[str, Any]) -> ContinualConfig:
    """Validate a continual run's params: the sections, the rule's and the learner's options."""
    config = from_dict(ContinualConfig, data)
    from wheretolearn.algorithms.continual import learner_options
    from wheretolearn.algorithms.rules import method_options

    config = dataclasses.replace(
        config,
        method=resolved(config.method, method_options(config.method)),
        learner=resolved(config.learner, learner_options(config.learner)),
    )
    return config


def _read_yaml(path: Path, overrides: dict[str, Any] | None) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"params file {path} does not exist")
    with path.open() as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, *, parse=parse_config
) -> Any:
    """Read and validate a params YAML (``parse``: the few-shot or the continual parser).
    ``overrides`` maps dotted keys to values."""
    path = Path(path)
    data = _read_yaml(path, overrides)
    try:
        return parse(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def dump_config(config: RunConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
