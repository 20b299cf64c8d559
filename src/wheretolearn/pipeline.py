"""The pipeline's single source of paths and run parameters (used by the Snakefile and the CLI).

A run's parameters are composed, in order, from ``params/fewshot.yaml``: ``base``, then the
``shots`` entry, then the run's entry (a method, or a variant ``from`` a method) for all shots
and for its shot, then the profile's overrides (``params/profiles/<profile>.yaml``), which
change budget and data only. Paper dataset names are mapped to the profile's datasets here,
so tables keep the paper's names while a profile may stand other data in for them.
"""

from __future__ import annotations

import copy
import logging
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from wheretolearn.config import parse_config
from wheretolearn.errors import ConfigError, UserError
from wheretolearn.validation_memo import check_once

PARAMS = Path("params")
RESULTS = Path("results")
FIGURES = Path("figures")


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@cache
def _yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"params file {path} does not exist")
    return yaml.safe_load(path.read_text()) or {}


def _read(path: Path) -> dict[str, Any]:
    return _yaml(path.resolve())  # cached by absolute path: safe across working directories


def fewshot(params_dir: Path = PARAMS) -> dict[str, Any]:
    return _read(params_dir / "fewshot.yaml")


def profile(name: str, params_dir: Path = PARAMS) -> dict[str, Any]:
    path = params_dir / "profiles" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (params_dir / "profiles").glob("*.yaml"))
        raise ConfigError(f"unknown profile {name!r}; known: {', '.join(known)}")
    return _read(path)


def tables(params_dir: Path = PARAMS) -> dict[str, Any]:
    return _read(params_dir / "tables.yaml")


def reported(params_dir: Path = PARAMS) -> dict[str, Any]:
    return _read(params_dir / "reported" / "sparse_maml.yaml")


def named_entry(entries: dict[str, Any], name: str, kind: str, source: Path) -> Any:
    """``entries[name]``, or a ConfigError naming the ``kind``, the file and the known names."""
    if name not in entries:
        known = ", ".join(sorted(entries))
        raise ConfigError(f"unknown {kind} {name!r} in {source}; known: {known}")
    return entries[name]


def run_entry(run: str, params_dir: Path = PARAMS) -> dict[str, Any]:
    """A run's own entry; a variant is its ``from`` method's entry with its overrides."""
    entry = dict(named_entry(fewshot(params_dir)["runs"], run, "run", params_dir / "fewshot.yaml"))
    parent = entry.pop("from", None)
    return deep_merge(run_entry(parent, params_dir), entry) if parent else entry


def loops(profile_name: str, params_dir: Path = PARAMS) -> list[str]:
    """The experiment families a profile covers (``fewshot``, ``continual``)."""
    return list(profile(profile_name, params_dir).get("loops", ["fewshot", "continual"]))


def require_loop(profile_name: str, loop: str, params_dir: Path = PARAMS) -> None:
    """Refuse, with what to do instead, a target of a family the profile does not cover."""
    covered = loops(profile_name, params_dir)
    if loop not in covered:
        others = sorted(
            p.stem
            for p in (params_dir / "profiles").glob("*.yaml")
            if loop in loops(p.stem, params_dir)
        )
        raise ConfigError(
            f"profile {profile_name!r} covers only the {', '.join(covered)} targets, not the "
            f"{loop} ones; run them with --config profile={' or '.join(others) or '?'}"
        )


def dataset_for(name: str, prof: dict[str, Any]) -> str:
    """The dataset that a profile uses for a paper dataset name."""
    return prof.get("datasets", {}).get(name, name)


def compose(run: str, shots: int, profile_name: str, params_dir: Path = PARAMS) -> dict:
    """The validated parameter mapping of one run of a profile."""
    require_loop(profile_name, "fewshot", params_dir)
    spec, prof = fewshot(params_dir), profile(profile_name, params_dir)
    entry = run_entry(run, params_dir)
    if shots not in spec["shots"]:
        raise ConfigError(f"no shots entry {shots} in fewshot.yaml; known: {list(spec['shots'])}")
    params = deep_merge(spec["base"], spec["shots"][shots])
    params = deep_merge(params, entry.get("all", {}))
    params = deep_merge(params, entry.get(shots, {}))
    params = deep_merge(params, prof.get("override", {}))
    method_name = params["method"]["name"]
    params = deep_merge(params, prof.get("methods", {}).get(method_name, {}))
    params["data"]["dataset"] = dataset_for(params["data"]["dataset"], prof)
    targets = params.get("eval", {}).get("targets", {})
    params["eval"]["targets"] = {dataset_for(k, prof): v for k, v in targets.items()}
    check_once("fewshot", params, parse_config)  # fail here, naming the key, before any job
    return params


# ---- paths: defined once ------------------------------------------------------------------


def run_dir(profile_name: str, run: str, shots: int, seed: int) -> Path:
    return RESULTS / profile_name / "runs" / run / f"{shots}shot" / f"seed{seed}"


def params_file(profile_name: str, run: str, shots: int) -> Path:
    return RESULTS / profile_name / "params" / f"{run}-{shots}shot.yaml"


def eval_file(profile_name: str, run: str, shots: int, seed: int, target: str) -> Path:
    return run_dir(profile_name, run, shots, seed) / f"eval-{target}.json"


def table_files(profile_name: str, table: str) -> list[Path]:
    return [RESULTS / profile_name / f"{table}.{ext}" for ext in ("csv", "md", "tex")]


def figure_files(profile_name: str, figure: str) -> list[Path]:
    return [FIGURES / profile_name / f"{figure}.{ext}" for ext in ("png", "pdf")]


def table_cells(table: str, profile_name: str, params_dir: Path = PARAMS):
    """``(run, shots, target)`` of every cell a table needs from our runs."""
    decl = tables(params_dir)[table]
    return [
        (run, shots, target)
        for run in decl["runs"]
        for shots in decl["settings"]
        for target in decl["datasets"]
    ]


def seeds(profile_name: str, params_dir: Path = PARAMS) -> list[int]:
    return list(profile(profile_name, params_dir)["seeds"])


def pull_cached(profile_name: str, lock: Path = Path("dvc.lock")) -> None:
    """``dvc pull`` the stages of a profile that were ever run (``dvc.lock`` lists them), then
    ``snakemake --touch`` the tables those stages hold.

    DVC checks files out in no particular order and a fresh clone has no ``.snakemake``
    metadata, so without the touch Snakemake would see outputs older than their inputs and
    re-run (retrain) them. A stage never run (say, the continual runs of a repository that
    only built the few-shot tables) has nothing cached and is skipped with a message.
    """
    import subprocess

    stages, skipped = cached_stages(profile_name, lock)
    if skipped:
        logging.getLogger(__name__).warning("nothing cached for %s (never run)", skipped)
    if not stages:
        raise ConfigError(
            f"{lock} records no stage of profile {profile_name!r}: nothing to pull; "
            f"build it with `dvc repro` or `snakemake tables --config profile={profile_name}`"
        )
    remote = verified_remote()
    if subprocess.run(["dvc", "pull", *stages]).returncode != 0:
        raise UserError(
            f"dvc pull from remote {remote!r} failed (see DVC's message above); nothing was "
            "marked current for Snakemake. A file whose content does not match its checksum in "
            "dvc.lock (a corrupt object in the remote) is refused this way: push it again "
            "from a clone that has it intact, or rebuild it with snakemake"
        )
    targets = [TOUCH_TARGET[s.split("@")[0]] for s in stages if s.split("@")[0] in TOUCH_TARGET]
    if targets:
        config = ["--config", f"profile={profile_name}"]
        subprocess.run(["snakemake", *targets, "--touch", "--cores", "1", *config], check=True)


def verified_remote() -> str:
    """The default DVC remote, with ``verify`` on: DVC then re-hashes what it downloads and
    refuses an object whose content does not match its name, instead of checking it out (the
    project's remote has it in .dvc/config; another remote gets it in .dvc/config.local)."""
    import subprocess

    def dvc(*args: str) -> str:
        return subprocess.run(["dvc", *args], capture_output=True, text=True).stdout.strip()

    remote = dvc("remote", "default")
    if not remote:
        raise UserError("no default DVC remote: `dvc remote add -d <name> <url>` first")
    if dvc("config", f"remote.{remote}.verify").lower() != "true":
        subprocess.run(["dvc", "remote", "modify", "--local", remote, "verify", "true"], check=True)
        logging.getLogger(__name__).info(
            "verifying what is pulled from %s (set in .dvc/config.local)", remote
        )
    return remote


# The snakemake target whose outputs a table stage of dvc.yaml holds.
TOUCH_TARGET = {"tables": "fewshot_tables", "continual-tables": "continual_tables"}


def cached_stages(profile_name: str, lock: Path = Path("dvc.lock")) -> tuple[list, list]:
    """(stages of the profile recorded in ``lock``, stages of it that are not)."""
    data = (yaml.safe_load(lock.read_text()) if lock.exists() else None) or {}
    recorded = set(data.get("stages", {}))
    stages = dvc_stages(profile_name)
    return [s for s in stages if s in recorded], [s for s in stages if s not in recorded]


# real-offline reads the prepared data of the smoke profile's datasets stage (dvc.yaml).
DATASETS_STAGE = {"real-offline": "datasets-smoke"}


def dvc_stages(profile_name: str) -> list[str]:
    """The dvc.yaml stages that hold a profile's datasets, runs and tables (per loop)."""
    stages = [DATASETS_STAGE.get(profile_name, f"datasets-{profile_name}")]
    if "fewshot" in loops(profile_name):
        stages += [f"runs@{profile_name}", f"tables@{profile_name}"]
    if "continual" in loops(profile_name):
        stages += [f"continual-runs@{profile_name}", f"continual-tables@{profile_name}"]
    return stages
