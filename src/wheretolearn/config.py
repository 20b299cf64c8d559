"""Run parameters: typed dataclasses read from a params YAML and validated before anything runs.

Every hyperparameter of a run comes from here. Validation is strict: an unknown key, a missing
key or a value of the wrong type raises :class:`~wheretolearn.errors.ConfigError` naming the key's
full path (``train.inner_steps``), so a typo can never silently fall back to a default.
The ``method`` section is validated against the options class of the update rule it names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from wheretolearn.errors import ConfigError


@dataclass(frozen=True)
class OptimizerConfig:
    """An outer-loop optimiser: Adam (PyTorch defaults) or SGD with Nesterov momentum."""

    name: Literal["adam", "sgd-nesterov"] = "adam"
    lr: float = 0.001
    momentum: float = 0.9


@dataclass(frozen=True)
class ModelConfig:
    name: Literal["conv4", "resnet12"] = "conv4"
    hidden: int = 64  # conv4 width (Figure S2)
    size: Literal["small", "large"] = "small"  # resnet12 channels (64,128,256,512)/(64,160,320,640)
    bias: bool = True  # conv and linear biases (Table S3 ablation)
    batchnorm: Literal["transductive", "non-transductive"] = "transductive"


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "omniglot-small"
    ways: int = 5
    shots: int = 1
    queries: int = 15
    image_size: int | None = None  # None: the dataset's own size
    normalisation: str | None = None  # None: the dataset's recorded default
    num_workers: int | None = None  # None: the device's engine plan (algorithms/engine.py)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 400
    batches_per_epoch: int = 100
    meta_batch_size: int = 2
    inner_steps: int = 35  # K_train
    first_order: bool = True
    outer_loss: Literal["sum", "mean"] = "sum"  # the authors sum over the tasks of a meta-batch
    theta_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    meta_optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    clip: float | None = None  # outer gradients clamped to [-clip, clip] elementwise
    validate_every: int = 5
    val_tasks: int = 300
    val_inner_steps: int | None = None  # None: eval.inner_steps
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"  # auto: cuda when available, else cpu


@dataclass(frozen=True)
class EvalConfig:
    inner_steps: int = 100  # K_test
    tasks: int = 300
    seed: int = 1000  # test tasks are fixed across runs and methods
    targets: dict[str, int] = field(default_factory=dict)  # dataset -> its own K_test (Table S2)


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
    tasks: int = 20
    per_task: int | None = 1000  # training examples per task; None: all of the task's pool
    classes_per_task: int = 2  # split-classes only
    test_per_task: int | None = None  # None: the whole (transformed) test pool
    flatten: bool = True  # images as vectors (MLP) or [C, H, W] (convnet)
    seed: int | None = 0  # the stream's own seed (GEM's data are drawn once); None: run seed


@dataclass(frozen=True)
class ContinualModelConfig:
    name: Literal["mlp", "convnet"] = "mlp"
    hidden: list[int] = field(default_factory=lambda: [100, 100])  # mlp hidden widths
    channels: int = 160  # convnet: channels of every conv layer (La-MAML's CIFAR network)
    convs: int = 4  # convnet: 3x3 stride-2 conv layers
    fc: int = 320  # convnet: width of the two fully-connected layers before the head


@dataclass(frozen=True)
class ContinualTrainConfig:
    batch_size: int = 10  # incoming examples per step of the stream
    epochs: int = 1  # passes over each task's data before the next task (1: single pass)
    memories: int = 200  # replay buffer size (total, all tasks)
    replay_batch_size: int = 10
    clip_norm: float | None = 2.0  # gradient-norm clipping of theta and meta-parameter updates
    log_every: int = 10  # stream steps between gradient-sparsity records
    dtype: Literal["float32", "float64"] = "float32"
    device: str = "auto"


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


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _coerce(option, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{path}: {value!r} is not a {_type_name(tp)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{path}: {value!r} is not one of {list(typing.get_args(tp))}")
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return {
            _coerce(key_tp, k, f"{path}.{k}"): _coerce(val_tp, v, f"{path}.{k}")
            for k, v in value.items()
        }
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_coerce(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")


def lookup(registry: dict[str, Any], spec: Any, section: str, kind: str) -> tuple[Any, dict]:
    """The class registered under ``spec['name']`` and the rest of ``spec`` (its options);
    a missing or unknown name is refused naming ``<section>.name`` and the known names."""
    known = ", ".join(sorted(registry))
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"missing key {section}.name; known {kind}s: {known}")
    name = spec["name"]
    if name not in registry:
        raise ConfigError(f"{section}.name: unknown {kind} {name!r}; known: {known}")
    return registry[name], {k: v for k, v in spec.items() if k != "name"}


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, refusing unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'params'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]!s}; allowed keys here: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {key}")
    return cls(**kwargs)


def parse_config(data: dict[str, Any]) -> RunConfig:
    """Validate a params mapping: the run sections, then the method's own options."""
    config = from_dict(RunConfig, data)
    from wheretolearn.algorithms.rules import method_options

    method_options(config.method)  # raises ConfigError naming method.<key>
    _at_least_one(
        ("train.epochs", config.train.epochs),
        ("train.inner_steps", config.train.inner_steps),
        ("data.ways", config.data.ways),
        ("data.shots", config.data.shots),
    )
    return config


def _at_least_one(*pairs: tuple[str, int]) -> None:
    for key, value in pairs:
        if value < 1:
            raise ConfigError(f"{key}: must be at least 1, got {value}")


def parse_continual_config(data: dict[str, Any]) -> ContinualConfig:
    """Validate a continual run's params: the sections, the rule's and the learner's options."""
    config = from_dict(ContinualConfig, data)
    from wheretolearn.algorithms.continual import learner_options
    from wheretolearn.algorithms.rules import method_options

    method_options(config.method)
    learner_options(config.learner)
    _at_least_one(
        ("stream.tasks", config.stream.tasks),
        ("train.batch_size", config.train.batch_size),
        ("train.epochs", config.train.epochs),
        ("train.log_every", config.train.log_every),
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
