"""Params validation, the leaf of the package: typed dataclasses from plain mappings.

:func:`from_dict` builds a frozen dataclass from a mapping and refuses, naming the key's full
path (``train.inner_steps``), an unknown key, a missing key, a value of the wrong type and a
value out of range. Ranges are written with the types, as ``typing.Annotated`` metadata from
``annotated_types`` (``Annotated[float, Gt(0)]``; the aliases below), so the dataclasses are
the one statement of what a valid run is.
"""

from __future__ import annotations

import dataclasses
import operator
import re
import types
import typing
from typing import Annotated, Any, Literal

import annotated_types as at

from wheretolearn.errors import ConfigError

Positive = Annotated[float, at.Gt(0)]  # learning rates, clipping bounds
NonNegative = Annotated[float, at.Ge(0)]
Count = Annotated[int, at.Ge(1)]  # epochs, steps, tasks, ways
Size = Annotated[int, at.Ge(0)]  # buffer sizes, worker processes
Fraction = Annotated[float, at.Interval(ge=0, le=1)]
Ways = Annotated[int, at.Ge(2)]  # classes per task


@dataclasses.dataclass(frozen=True)
class Pattern:
    """A string constraint: ``re.fullmatch(regex, value)``; ``hint`` says what is allowed."""

    regex: str
    hint: str


# The syntax only: whether that device exists is checked by the job that uses it (the machine
# that builds the DAG, a cluster's login node say, may have no GPU).
Device = Annotated[
    str, Pattern(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:<index> or mps")
]

_BOUNDS = {"gt": (">", operator.gt), "ge": (">=", operator.ge), "lt": ("<", operator.lt),
           "le": ("<=", operator.le)}  # fmt: skip


def _check_bounds(value: Any, meta: tuple[Any, ...], path: str) -> None:
    """Refuse ``value`` outside the ``annotated_types`` bounds in ``meta``, naming ``path``."""
    for constraint in meta:
        if isinstance(constraint, Pattern) and not re.fullmatch(constraint.regex, value):
            raise ConfigError(f"{path}: {value!r} is not one of {constraint.hint}")
        for attr, (symbol, holds) in _BOUNDS.items():
            bound = getattr(constraint, attr, None)
            if bound is not None and not holds(value, bound):
                raise ConfigError(f"{path}: must be {symbol} {bound}, got {value!r}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Check ``value`` against annotation ``tp``; return it (ints are accepted as floats)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        base, *meta = typing.get_args(tp)
        value = _coerce(base, value, path)
        _check_bounds(value, tuple(meta), path)
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(typing.get_args(tp), value, path, _type_name(tp))
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{path}: {value!r} is not one of {list(typing.get_args(tp))}")
    if origin in (dict, list):
        return _coerce_container(origin, typing.get_args(tp), value, path)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    return _coerce_scalar(tp, value, path)


def _coerce_union(options: tuple, value: Any, path: str, name: str) -> Any:
    if value is not None and type(None) in options and len(options) == 2:
        (inner,) = [o for o in options if o is not type(None)]
        return _coerce(inner, value, path)  # an optional value: its own error, bounds too
    errors = []
    for option in options:
        try:
            return _coerce(option, value, path)
        except ConfigError as err:
            errors.append(f"as {_type_name(option)}: {err}")
    raise ConfigError(f"{path}: {value!r} is not a {name} ({'; '.join(errors)})")


def _coerce_container(origin: type, args: tuple, value: Any, path: str) -> Any:
    if origin is dict:
        key_tp, val_tp = args
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return {
            _coerce(key_tp, k, f"{path}.{k}"): _coerce(val_tp, v, f"{path}.{k}")
            for k, v in value.items()
        }
    (item_tp,) = args
    if not isinstance(value, list):
        raise ConfigError(f"{path}: expected a list, got {value!r}")
    return [_coerce(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]


def _coerce_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{path}: expected null, got {value!r}")
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, refusing unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'params'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls, include_extras=True)
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


def when_set(default: Any) -> Any:
    """A dataclass field that a run's record (:func:`record`) lists only when its value is
    not ``default``. Options added after runs were recorded are declared so: every earlier
    run keeps its identity (the checkpoints bound to it stay valid), and a run that sets
    the option records it."""
    return dataclasses.field(default=default, metadata={"record": "when-set"})


def record(obj: Any) -> Any:
    """A dataclass as plain data (as :func:`dataclasses.asdict`), leaving out the
    :func:`when_set` fields at their default: what a run records and is identified by."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("record") == "when-set" and value == f.default:
                continue
            out[f.name] = record(value)
        return out
    if isinstance(obj, dict):
        return {k: record(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(record(v) for v in obj)
    return obj


def resolved(section: dict[str, Any], options: Any) -> dict[str, Any]:
    """A plug-in's section with every option it uses, defaults included (but for
    :func:`when_set` options at their default): what a run records."""
    return {"name": section["name"], **record(options)}


def read_params(path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A params YAML file as a mapping, with ``overrides`` (dotted keys) applied."""
    from pathlib import Path

    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return data


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key.sub=value`` strings to a mapping; values are read as YAML scalars."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def load(path, overrides: dict[str, Any] | None, parse) -> Any:
    """Read a params file (with ``overrides``) and ``parse`` it; errors name the file."""
    data = read_params(path, overrides)
    try:
        return parse(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
