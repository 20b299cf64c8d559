"""Continual-learning runs: composition, validation and paths (used by the Snakefile and the CLI).

A run of a benchmark is composed, in order, from ``params/continual.yaml``: ``base``, the
benchmark's ``params``, the run's ``all`` entry, the run's entry for that benchmark (a run
``from`` another is that run's entry with its own merged over it), then the profile's
``continual`` section, which changes data and budget only: ``pools`` renames a stream's
datasets, ``override`` and ``benchmarks`` set stream, model and train keys, ``limits`` caps
budget keys (glances, epochs). The result is validated as a
:class:`~wheretolearn.config.ContinualConfig` before any job starts.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from wheretolearn import pipeline
from wheretolearn.errors import ConfigError
from wheretolearn.validation_memo import check_once

PARAMS = pipeline.PARAMS
RESULTS = pipeline.RESULTS
SECTIONS = ("method", "learner", "stream", "model", "train")


def spec(params_dir: Path = PARAMS) -> dict[str, Any]:
    return pipeline._read(params_dir / "continual.yaml")


def declarations(params_dir: Path = PARAMS) -> dict[str, Any]:
    return pipeline._read(params_dir / "continual_tables.yaml")


def reported(params_dir: Path = PARAMS) -> dict[str, Any]:
    return pipeline._read(params_dir / "reported" / "la_maml.yaml")


def profile_section(profile_name: str, params_dir: Path = PARAMS) -> dict[str, Any]:
    """The profile's ``continual`` section; a profile without the loop is refused by name."""
    pipeline.require_loop(profile_name, "continual", params_dir)
    return pipeline.profile(profile_name, params_dir)["continual"]


def benchmark(name: str, params_dir: Path = PARAMS) -> dict[str, Any]:
    source = params_dir / "continual.yaml"
    return pipeline.named_entry(spec(params_dir)["benchmarks"], name, "benchmark", source)


def run_entry(run: str, params_dir: Path = PARAMS) -> dict[str, Any]:
    """A run's entry; a run ``from`` another is that run's entry with its own merged over it."""
    runs, source = spec(params_dir)["runs"], params_dir / "continual.yaml"
    entry = dict(pipeline.named_entry(runs, run, "continual run", source))
    parent = entry.pop("from", None)
    known = {"all", *spec(params_dir)["benchmarks"]}
    for key in entry:
        if key not in known:
            raise ConfigError(
                f"runs.{run}.{key}: not `all` nor a benchmark; known: {sorted(known)}"
            )
    return pipeline.deep_merge(run_entry(parent, params_dir), entry) if parent else entry


def _merge_layers(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """Deep-merge parameter layers; their ``notes`` are joined instead of replaced."""
    params: dict[str, Any] = {}
    notes: list[str] = []
    for layer in layers:
        layer = dict(layer or {})
        note = layer.pop("notes", None)
        if note and note not in notes:
            notes.append(" ".join(str(note).split()))
        params = pipeline.deep_merge(params, layer)
    params["notes"] = " ".join(notes)
    return params


def _apply_pool(stream: dict[str, Any], pools: dict[str, Any]) -> dict[str, Any]:
    """Rename a stream's paper dataset to the profile's pools (train and test)."""
    pool = pools.get(stream.get("dataset"))
    return {**stream, **pool} if pool else stream


def _apply_limits(params: dict[str, Any], limits: dict[str, int]) -> None:
    for dotted, cap in limits.items():
        section, key = dotted.split(".")
        node = params.get(section, {})
        if key in node and node[key] > cap:
            node[key] = cap


def compose(run: str, bench: str, profile_name: str, params_dir: Path = PARAMS) -> dict:
    """The validated parameter mapping of one continual run on one benchmark in a profile."""
    prof = profile_section(profile_name, params_dir)
    entry = run_entry(run, params_dir)
    layers = [
        spec(params_dir)["base"],
        benchmark(bench, params_dir)["params"],
        entry.get("all", {}),
        entry.get(bench, {}),
        prof.get("override", {}),
        prof.get("benchmarks", {}).get(bench, {}),
    ]
    params = _merge_layers(layers)
    params["stream"] = _apply_pool(params.get("stream", {}), prof.get("pools", {}))
    _apply_limits(params, prof.get("limits", {}))
    params = {k: params[k] for k in (*SECTIONS, "notes") if k in params}
    validate(params, f"run {run!r} on {bench!r} (profile {profile_name})")
    return params


def validate(params: dict[str, Any], what: str = "params") -> None:
    """Check a continual params mapping (sections, rule and learner options), naming the
    first wrong key."""
    from wheretolearn.config import parse_continual_config

    try:
        check_once("continual", params, parse_continual_config)
    except ConfigError as err:
        raise ConfigError(f"{what}: {err}") from None


# ---- what the tables need ---------------------------------------------------------------


def seeds(name: str, profile_name: str, params_dir: Path = PARAMS) -> list[int]:
    """The seeds of a table or figure: the profile's ``seeds`` or its ``figure_seeds``."""
    which = declarations(params_dir)[name]["seeds"]
    if which == "figure_seeds":
        return list(profile_section(profile_name, params_dir)["figure_seeds"])
    return pipeline.seeds(profile_name, params_dir)


def cells(name: str, params_dir: Path = PARAMS) -> list[tuple[str, str]]:
    """``(run, benchmark)`` of every run a table or figure reads (its sweep included)."""
    decl = declarations(params_dir)[name]
    runs = list(dict.fromkeys([*decl["runs"], *decl.get("sweep", {}).get("runs", [])]))
    return [(run, bench) for bench in decl["benchmarks"] for run in runs]


def names(kind: str | None = None, params_dir: Path = PARAMS) -> list[str]:
    """The declared continual targets; ``kind`` "table" or "figure" selects by name."""
    return [n for n in declarations(params_dir) if kind is None or n.startswith(kind)]


# ---- paths: defined once ------------------------------------------------------------------


def folder(profile_name: str) -> Path:
    """Everything the continual runs of a profile make (composed params, run folders)."""
    return RESULTS / profile_name / "continual"


def params_file(profile_name: str, run: str, bench: str) -> Path:
    return folder(profile_name) / "params" / bench / f"{run}.yaml"


def run_dir(profile_name: str, run: str, bench: str, seed: int) -> Path:
    return folder(profile_name) / "runs" / bench / run / f"seed{seed}"


def metrics_file(profile_name: str) -> Path:
    return RESULTS / profile_name / "metrics-continual.json"


def result_file(profile_name: str, run: str, bench: str, seed: int) -> Path:
    return run_dir(profile_name, run, bench, seed) / "result.json"


def result_files(name: str, profile_name: str, params_dir: Path = PARAMS) -> list[Path]:
    return [
        result_file(profile_name, run, bench, seed)
        for run, bench in cells(name, params_dir)
        for seed in seeds(name, profile_name, params_dir)
    ]


def datasets(profile_name: str, params_dir: Path = PARAMS) -> list[str]:
    """Every dataset (registry name) that the profile's continual runs read."""
    out = set()
    for name in names(params_dir=params_dir):
        for run, bench in cells(name, params_dir):
            stream = compose(run, bench, profile_name, params_dir)["stream"]
            out.add(stream["dataset"])
            out.add(stream.get("test_dataset") or stream["dataset"])
    return sorted(out)


# ---- command line -------------------------------------------------------------------------


def _compose_main(args: argparse.Namespace) -> int:
    from wheretolearn.files import write_text_atomic

    params = compose(args.run, args.benchmark, args.profile)
    write_text_atomic(Path(args.out), yaml.safe_dump(params, sort_keys=False))
    return 0
