"""A continual run's parameters, composed from params and a profile.

A run of a benchmark is composed, in order, from ``params/continual/runs.yaml``: ``base``, the
benchmark's ``params``, the run's ``all`` entry, the run's entry for that benchmark (a run
``from`` another is that run's entry with its own merged over it), then the profile's
``continual`` section, which changes data and budget only: ``pools`` renames a stream's
datasets, ``override`` and ``benchmarks`` set stream, model and train keys, ``limits`` caps
budget keys (glances, epochs). Notes are joined, not replaced. A cell is ``<benchmark>/<run>``.
"""

from __future__ import annotations

from typing import Any

from wheretolearn import params
from wheretolearn.errors import ConfigError
from wheretolearn.experiments import NamedRuns
from wheretolearn.experiments.continual import config
from wheretolearn.validation_memo import check_once

FAMILY = "continual"
SECTIONS = ("method", "learner", "stream", "model", "train")
RUNS = NamedRuns(FAMILY, "{bench}/{run}", part="bench", section="benchmarks", word="benchmark")
CELLS = RUNS.cells
cell = RUNS.cell  # cell(run, bench)
split = RUNS.split  # split(cell) -> (run, bench)
spec = RUNS.spec  # the runs file
benchmark = RUNS.entry  # a benchmark by name
run_entry = RUNS.run_entry  # a run's entry: its keys are `all` or benchmark names


def _apply_pool(stream: dict[str, Any], pools: dict[str, Any]) -> dict[str, Any]:
    """Rename a stream's paper dataset to the profile's pools (train and test)."""
    pool = pools.get(stream.get("dataset"))
    return {**stream, **pool} if pool else stream


def _apply_limits(composed: dict[str, Any], limits: dict[str, int]) -> None:
    for dotted, cap in limits.items():
        section, key = dotted.split(".")
        node = composed.get(section, {})
        if key in node and node[key] > cap:
            node[key] = cap


def compose(cell_id: str, profile: str) -> dict[str, Any]:
    """The validated parameter mapping of one continual run on one benchmark in a profile."""
    run, bench = split(cell_id)
    section = params.section(profile, FAMILY)
    entry = run_entry(run)
    composed = params.merge_layers(
        [
            spec()["base"],
            benchmark(bench)["params"],
            entry.get("all", {}),
            entry.get(bench, {}),
            section.get("override", {}),
            section.get("benchmarks", {}).get(bench, {}),
        ]
    )
    composed["stream"] = _apply_pool(composed.get("stream", {}), section.get("pools", {}))
    _apply_limits(composed, section.get("limits", {}))
    composed = {k: composed[k] for k in (*SECTIONS, "notes") if k in composed}
    try:
        check_once(FAMILY, composed, config.parse)
    except ConfigError as err:
        raise ConfigError(f"run {run!r} on {bench!r} (profile {profile}): {err}") from None
    return composed


def table_cells(decl: dict[str, Any]) -> list[tuple[str, str]]:
    """``(run, benchmark)`` of every run a table or figure reads (its sweep included)."""
    runs = list(dict.fromkeys([*decl["runs"], *decl.get("sweep", {}).get("runs", [])]))
    return [(run, bench) for bench in decl["benchmarks"] for run in runs]
