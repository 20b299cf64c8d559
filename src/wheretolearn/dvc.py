"""Pulling a profile's cached artifacts with DVC, and marking them current for Snakemake.

The stages of a profile are read from ``dvc.lock`` (what was built and pushed), not re-encoded
here: a family stage's command builds ``<family>_tables`` with ``--config profile=<P>``, and
a datasets stage is pulled when it holds a dataset folder the profile's runs read.
"""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from wheretolearn import params
from wheretolearn.errors import ConfigError, UserError
from wheretolearn.paths import layout

log = logging.getLogger(__name__)
TABLES_TARGET = re.compile(r"snakemake (?P<family>[a-z]+)_tables\b")


def locked_stages(lock: Path) -> dict[str, Any]:
    data = (yaml.safe_load(lock.read_text()) if lock.exists() else None) or {}
    return data.get("stages", {})


def profile_families(profile: str) -> list[str]:
    from wheretolearn.experiments import FAMILIES

    return [f for f in FAMILIES.names() if params.covers(profile, f)]


def profile_datasets(profile: str) -> set[str]:
    """The prepared dataset folders (``data/<base>``) the profile's runs read."""
    from wheretolearn.data import registry
    from wheretolearn.experiments import family

    names = set()
    for name in profile_families(profile):
        owner = family(name)
        for target in owner.targets():
            for cell in owner.cells(target):
                names.update(owner.datasets(cell, profile))
    return {f"data/{registry.get(n).base}" for n in names}


def cached_stages(profile: str, lock: Path) -> tuple[list[str], dict[str, str]]:
    """(the lock's stages of the profile, ``{stage: family}`` of those that hold tables)."""
    stages, families = [], {}
    data = profile_datasets(profile)
    for name, stage in locked_stages(lock).items():
        cmd = stage.get("cmd", "")
        outs = {o["path"] for o in stage.get("outs", [])}
        if f"profile={profile}" in cmd.split() or f"--config profile={profile}" in cmd:
            stages.append(name)
            if match := TABLES_TARGET.search(cmd):
                families[name] = match["family"]
        elif outs & data:
            stages.append(name)
    return stages, families


def verified_remote() -> str:
    """The default DVC remote, with ``verify`` on: DVC then re-hashes what it downloads and
    refuses an object whose content does not match its name, instead of checking it out (the
    project's remote has it in .dvc/config; another remote gets it in .dvc/config.local)."""

    def dvc(*args: str) -> str:
        return subprocess.run(["dvc", *args], capture_output=True, text=True).stdout.strip()

    remote = dvc("remote", "default")
    if not remote:
        raise UserError("no default DVC remote: `dvc remote add -d <name> <url>` first")
    if dvc("config", f"remote.{remote}.verify").lower() != "true":
        subprocess.run(["dvc", "remote", "modify", "--local", remote, "verify", "true"], check=True)
        log.info("verifying what is pulled from %s (set in .dvc/config.local)", remote)
    return remote


def pull_cached(profile: str, lock: Path | None = None) -> None:
    """``dvc pull`` the stages of a profile that were ever built (``dvc.lock`` lists them), then
    ``snakemake --touch`` the tables those stages hold.

    DVC checks files out in no particular order and a fresh clone has no ``.snakemake``
    metadata, so without the touch Snakemake would see outputs older than their inputs and
    re-run (retrain) them. A family never built for the profile has nothing cached: skipped,
    with a message.
    """
    lock = lock or layout().root / "dvc.lock"
    stages, families = cached_stages(profile, lock)
    skipped = sorted(set(profile_families(profile)) - set(families.values()))
    if skipped:
        log.warning("nothing cached for the %s targets of %s (never built)", skipped, profile)
    if not stages:
        raise ConfigError(
            f"{lock} records no stage of profile {profile!r}: nothing to pull; build it "
            f"with `dvc repro` or `snakemake tables --config profile={profile}`"
        )
    remote = verified_remote()
    if subprocess.run(["dvc", "pull", *stages]).returncode != 0:
        raise UserError(
            f"dvc pull from remote {remote!r} failed (see DVC's message above); nothing was "
            "marked current for Snakemake. A file whose content does not match its checksum in "
            "dvc.lock (a corrupt object in the remote) is refused this way: push it again "
            "from a clone that has it intact, or rebuild it with snakemake"
        )
    targets = [f"{f}_tables" for f in dict.fromkeys(families.values())]
    if targets:
        config = ["--config", f"profile={profile}"]
        subprocess.run(["snakemake", *targets, "--touch", "--cores", "1", *config], check=True)
