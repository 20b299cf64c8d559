"""An online run's parameters, composed from params and a profile.

A run in a setting (a switch probability p) is composed, in order, from
``params/online/runs.yaml``: ``base``, the setting's ``params``, the run's ``all`` entry, the
run's entry for that setting (a run ``from`` another is that run's entry with its own merged
over it), then the profile's ``online`` section, which changes data and budget only: ``pools``
replaces a mode's registry sources, ``override``, ``settings`` (per setting) and ``runs`` (per
run: its ``all`` entry, then its entry for the setting, as in the runs file) set stream, model,
learner and train keys (of the learner, only the keys the run's learner has: a baseline that
names its own learner has none of C-MAML's). Notes are joined, not replaced. A cell is
``<run>/<setting>`` (``c-maml/p0.98``).
"""

from __future__ import annotations

import copy
from typing import Any

from wheretolearn import params
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import NamedRuns
from wheretolearn.experiments.online import config
from wheretolearn.validation_memo import check_once

FAMILY = "online"
SECTIONS = ("method", "learner", "stream", "model", "train")
RUNS = NamedRuns(
    FAMILY,
    "{run}/{setting}",
    part="setting",
    section="settings",
    word="setting",
    kind="online setting",
)
CELLS = RUNS.cells
cell = RUNS.cell  # cell(run, setting)
split = RUNS.split  # split(cell) -> (run, setting)
spec = RUNS.spec  # the runs file
setting = RUNS.entry  # a setting by name
run_entry = RUNS.run_entry  # a run's entry: its keys are `all` or setting names


def _apply_pools(stream: dict[str, Any], pools: dict[str, Any]) -> None:
    """Replace each mode's registry sources by the profile's pools (data only)."""
    modes = stream.get("modes", {})
    for mode, sources in pools.items():
        if mode not in modes:
            raise ConfigError(f"pools.{mode}: no such mode; the stream's modes: {sorted(modes)}")
        modes[mode]["sources"] = copy.deepcopy(sources)


def _learner(entry: dict, run: str, name: str, section: dict) -> dict[str, Any]:
    """The run's learner: C-MAML's (the base's, the setting's and the run's keys), or a
    baseline's that the run names (``learner.name``: its own keys alone). The profile's
    learner budget sets only the keys that learner has (a pre-training budget leaves C-MAML
    alone, C-MAML's inner steps leave online Adam alone)."""
    own = params.deep_merge(entry.get("all", {}).get("learner", {}),
                            entry.get(name, {}).get("learner", {}))  # fmt: skip
    if own.get("name", "c-maml") == "c-maml":
        shared = params.deep_merge(spec()["base"].get("learner", {}),
                                   setting(name)["params"].get("learner", {}))  # fmt: skip
        own = params.deep_merge(shared, own)
    budget: dict[str, Any] = {}
    for layer in _budget(section, run, name):
        budget = params.deep_merge(budget, layer.get("learner", {}))
    return params.deep_merge(own, _present(budget, own))


def _budget(section: dict[str, Any], run: str, name: str) -> list[dict[str, Any]]:
    """The profile's budget layers of one cell, in order: ``override``, the setting's, the
    run's ``all`` and the run's entry for the setting (unknown run or entry names refused)."""
    runs = section.get("runs", {})
    for other, entry in runs.items():
        if other not in spec()["runs"]:
            raise ConfigError(f"runs.{other}: no such online run; known: "
                              f"{', '.join(sorted(spec()['runs']))}")  # fmt: skip
        for key in entry:
            if key != "all" and key not in spec()["settings"]:
                raise ConfigError(f"runs.{other}.{key}: not `all` nor a setting; known: "
                                  f"{', '.join(sorted(spec()['settings']))}")  # fmt: skip
    own = runs.get(run, {})
    return [section.get("override", {}), section.get("settings", {}).get(name, {}),
            own.get("all", {}), own.get(name, {})]  # fmt: skip


def _present(budget: dict[str, Any], into: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``budget`` that ``into`` has, mapping by mapping."""
    out = {}
    for key, value in budget.items():
        if key in into:
            both = isinstance(value, dict) and isinstance(into[key], dict)
            out[key] = _present(value, into[key]) if both else value
    return out


def compose(cell_id: str, profile: str) -> dict[str, Any]:
    """The validated parameter mapping of one online run in one setting of a profile."""
    run, name = split(cell_id)
    section = params.section(profile, FAMILY)
    entry = run_entry(run)
    composed = params.merge_layers(
        [
            spec()["base"],
            setting(name)["params"],
            entry.get("all", {}),
            entry.get(name, {}),
            *_budget(section, run, name),
        ]
    )
    composed["learner"] = _learner(entry, run, name, section)
    _apply_pools(composed.get("stream", {}), section.get("pools", {}))
    composed = {k: composed[k] for k in (*SECTIONS, "notes") if k in composed}
    try:
        check_once(FAMILY, composed, config.parse)
    except ConfigError as err:
        raise ConfigError(f"run {run!r} in {name!r} (profile {profile}): {err}") from None
    return composed


def table_cells(decl: dict[str, Any]) -> list[tuple[str, str]]:
    """``(run, setting)`` of every run a table or figure reads."""
    return [(run, name) for name in decl["settings"] for run in decl["runs"]]


def datasets(composed: dict[str, Any]) -> list[str]:
    """The registry datasets a composed run's modes read."""
    modes = composed["stream"]["modes"].values()
    return sorted({dataset for mode in modes for dataset, _ in mode["sources"]})
