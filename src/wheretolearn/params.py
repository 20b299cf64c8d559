"""The params folder, read in one place: YAML files, profiles and the families they cover,
run entries with ``from:`` inheritance, and layers merged with their notes joined.

``params/profiles/<name>.yaml`` holds what every family of a profile shares (``seeds``,
``threads``) and one section per family it covers (``fewshot:``, ``continual:``), which
changes budget and data only. ``params/<family>/{runs,tables,reported}.yaml`` hold a family's
hyperparameters, its table and figure declarations and the papers' numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from wheretolearn.errors import ConfigError
from wheretolearn.paths import layout

_cache: dict[tuple[str, int, int], Any] = {}


def read(path: Path) -> Any:
    """A YAML file's content (cached until the file changes); a ConfigError if absent."""
    path = Path(path).absolute()
    if not path.is_file():
        raise ConfigError(f"params file {path} does not exist")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        try:
            _cache[key] = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return _cache[key]


def deep_merge(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``override`` merged in, mapping by mapping (neither is modified)."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_layers(layers: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Deep-merge parameter layers in order; their ``notes`` are joined, not replaced."""
    params: dict[str, Any] = {}
    notes: list[str] = []
    for layer in layers:
        layer = dict(layer or {})
        note = layer.pop("notes", None)
        if note and " ".join(str(note).split()) not in notes:
            notes.append(" ".join(str(note).split()))
        params = deep_merge(params, layer)
    params["notes"] = " ".join(notes)
    return params


def named_entry(entries: dict[str, Any], name: str, kind: str, source: Path) -> Any:
    """``entries[name]``, or a ConfigError naming the ``kind``, the file and the known names."""
    if name not in entries:
        known = ", ".join(sorted(map(str, entries)))
        raise ConfigError(f"unknown {kind} {name!r} in {source}; known: {known}")
    return entries[name]


def family_file(family: str, name: str) -> dict[str, Any]:
    """``params/<family>/<name>.yaml`` (``runs``, ``tables``, ``reported``)."""
    return read(layout().family_params(family, name))


def run_entry(family: str, run: str) -> dict[str, Any]:
    """A run's entry in ``params/<family>/runs.yaml``; a run ``from`` another is that run's
    entry with its own merged over it."""
    source = layout().family_params(family, "runs")
    entry = dict(named_entry(family_file(family, "runs")["runs"], run, f"{family} run", source))
    parent = entry.pop("from", None)
    return deep_merge(run_entry(family, parent), entry) if parent else entry


def profiles() -> list[str]:
    return sorted(p.stem for p in (layout().params() / "profiles").glob("*.yaml"))


def profile(name: str) -> dict[str, Any]:
    """``params/profiles/<name>.yaml``; an unknown name is refused with the known ones."""
    path = layout().profile(name)
    if not path.is_file():
        raise ConfigError(f"unknown profile {name!r}; known: {', '.join(profiles())}")
    return read(path)


def covers(profile_name: str, family: str) -> bool:
    return isinstance(profile(profile_name).get(family), dict)


def section(profile_name: str, family: str) -> dict[str, Any]:
    """The profile's section of a family; a family the profile does not cover is refused,
    naming the profiles that do."""
    if not covers(profile_name, family):
        others = [p for p in profiles() if covers(p, family)]
        have = [f for f, v in profile(profile_name).items() if isinstance(v, dict)]
        raise ConfigError(
            f"profile {profile_name!r} covers only the {', '.join(have)} targets, not the "
            f"{family} ones; run them with --config profile={' or '.join(others) or '?'}"
        )
    return profile(profile_name)[family]


def seeds(profile_name: str) -> list[int]:
    return list(profile(profile_name)["seeds"])
