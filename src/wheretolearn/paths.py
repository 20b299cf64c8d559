"""Every path of every family, defined once and rooted at the project root.

The project root is ``$WHERETOLEARN_ROOT`` if set, else the nearest folder, from the working
directory up, that holds ``params/profiles/`` (as git finds ``.git``): a command run from a
sub-folder reads and writes the same files. ``Layout(Path("."))`` gives the same paths relative
to the root, which is what the Snakemake rules use as patterns (they run in the root).

Layout of a profile's outputs, one folder per family (what ``dvc.yaml`` versions)::

    results/<profile>/<family>/params/<cell>.yaml         composed parameters of a run
    results/<profile>/<family>/runs/<cell>/seed<s>/       a run folder
    results/<profile>/<family>/tables/<table>.{csv,md,tex}, <table>.html (its report page)
    results/<profile>/metrics/<family>.json               the tables' means (DVC metrics)
    results/<profile>/logs/<family>/..., benchmarks/<family>/...
    figures/<profile>/<family>/<figure>.{png,pdf}
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from wheretolearn.errors import UserError

ROOT_ENV = "WHERETOLEARN_ROOT"


def project_root() -> Path:
    """The project root (see the module docstring)."""
    return _root(os.environ.get(ROOT_ENV, ""), os.getcwd())


@cache
def _root(explicit: str, cwd: str) -> Path:
    if explicit:
        return Path(explicit).expanduser().absolute()
    here = Path(cwd)
    for folder in (here, *here.parents):
        if (folder / "params" / "profiles").is_dir():
            return folder
    raise UserError(
        f"no project root above {here}: run inside the project (a folder with params/profiles/) "
        f"or set {ROOT_ENV}"
    )


class Layout:
    """The project's paths under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # ---- params -------------------------------------------------------------------------
    def params(self) -> Path:
        return self.root / "params"

    def profile(self, name: str) -> Path:
        return self.params() / "profiles" / f"{name}.yaml"

    def family_params(self, family: str, name: str) -> Path:
        """``params/<family>/<name>.yaml``: runs, tables, reported."""
        return self.params() / family / f"{name}.yaml"

    # ---- results ------------------------------------------------------------------------
    def results(self, profile: str, family: str) -> Path:
        return self.root / "results" / profile / family

    def composed(self, profile: str, family: str, cell: str) -> Path:
        return self.results(profile, family) / "params" / f"{cell}.yaml"

    def run_dir(self, profile: str, family: str, cell: str, seed: int | str) -> Path:
        return self.results(profile, family) / "runs" / cell / f"seed{seed}"

    def table_files(self, profile: str, family: str, table: str) -> list[Path]:
        folder = self.results(profile, family) / "tables"
        return [folder / f"{table}.{ext}" for ext in ("csv", "md", "tex")]

    def table_page(self, profile: str, family: str, table: str) -> Path:
        """A table's HTML page for the Snakemake report (wheretolearn.report)."""
        return self.results(profile, family) / "tables" / f"{table}.html"

    def figure_files(self, profile: str, family: str, figure: str) -> list[Path]:
        folder = self.root / "figures" / profile / family
        return [folder / f"{figure}.{ext}" for ext in ("png", "pdf")]

    def metrics_file(self, profile: str, family: str) -> Path:
        return self.root / "results" / profile / "metrics" / f"{family}.json"

    def logs(self, profile: str, family: str) -> Path:
        return self.root / "results" / profile / "logs" / family

    def benchmarks(self, profile: str, family: str) -> Path:
        return self.root / "results" / profile / "benchmarks" / family

    def validated(self) -> Path:
        """The memo of composed parameters validated by this code (validation_memo)."""
        return self.root / ".snakemake" / "wheretolearn" / "validated"


def layout() -> Layout:
    """The layout of the project the command runs in."""
    return Layout(project_root())
