"""Experiment families: the outer loops (few-shot, continual, ...) as plug-ins.

A family is one package of this folder with the same few modules: ``config`` (its run's
dataclasses), ``compose`` (a run's parameters from params and profile), ``run`` (training one
run into a run folder), ``cells`` (its tables' rows and its figures' data, from result files
alone), and ``family``, which registers its :class:`Family`. The stages (compose, train, table,
figure, metrics, pull), the command line and the Snakemake rules are written once, over the
family. A new family is one package here, one ``params/<family>/`` folder (runs, tables,
reported) and a section in the profiles that cover it.

A *cell* is a family's name for one run of a profile, a path fragment (few-shot
``maml/1shot``, continual ``rotations/la-maml``); a *target* is a declared table or figure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, ClassVar

from wheretolearn import params
from wheretolearn.errors import ConfigError, UserError
from wheretolearn.paths import layout
from wheretolearn.registry import Registry


class CellForm:
    """How a family names its cells: a format such as ``{run}/{shots}shot``, written and read
    back (every part but the last text, without ``/``; parts typed ``int`` are digits)."""

    def __init__(self, family: str, form: str, **types: type) -> None:
        self.family, self.form, self.types = family, form, types
        pattern = re.escape(form)
        for name in re.findall(r"\{(\w+)\}", form):
            part = r"\d+" if types.get(name) is int else r"[^/]+"
            pattern = pattern.replace(re.escape(f"{{{name}}}"), f"(?P<{name}>{part})")
        self.pattern = re.compile(pattern)

    def format(self, **parts: Any) -> str:
        return self.form.format(**parts)

    def parse(self, cell: str) -> dict[str, Any]:
        match = self.pattern.fullmatch(cell)
        if not match:
            raise ConfigError(f"not a {self.family} cell: {cell!r} (expected {self.form})")
        return {k: self.types.get(k, str)(v) for k, v in match.groupdict().items()}


class NamedRuns:
    """The runs of a family whose ``runs.yaml`` names the entries a run is composed in (online
    settings, continual benchmarks): its cells ``form`` of a run and an entry (the cell part
    ``part``), the entries under ``section``, and each run's entry keyed by ``all`` or an
    entry's name. ``kind`` names an entry in an unknown-entry error, ``word`` in a run's."""

    def __init__(self, family: str, form: str, part: str, section: str, word: str,
                 kind: str | None = None) -> None:  # fmt: skip
        self.family, self.part, self.section, self.word = family, part, section, word
        self.kind = kind or word
        self.cells = CellForm(family, form)

    def cell(self, run: str, name: str) -> str:
        return self.cells.format(run=run, **{self.part: name})

    def split(self, cell_id: str) -> tuple[str, str]:
        """``(run, entry)`` of a cell."""
        parts = self.cells.parse(cell_id)
        return parts["run"], parts[self.part]

    def spec(self) -> dict[str, Any]:
        return params.family_file(self.family, "runs")

    def entry(self, name: str) -> dict[str, Any]:
        """A named entry (a setting, a benchmark); an unknown name is refused with the known."""
        source = layout().family_params(self.family, "runs")
        return params.named_entry(self.spec()[self.section], name, self.kind, source)

    def run_entry(self, run: str) -> dict[str, Any]:
        """A run's entry; its keys are ``all`` or entry names."""
        entry = params.run_entry(self.family, run)
        known = {"all", *self.spec()[self.section]}
        for key in entry:
            if key not in known:
                raise ConfigError(
                    f"runs.{run}.{key}: not `all` nor a {self.word}; known: {sorted(known)}"
                )
        return entry


def read_result(path: Path) -> dict[str, Any]:
    """A run's result JSON; a missing one is a user error naming the file."""
    if not path.exists():
        raise UserError(f"missing result {path}: run `snakemake` for this table first")
    return json.loads(path.read_text())


def paper_value(reported: dict, table: str, run: str, name: str, metric: str):
    """The paper's ``(mean, std)`` of a cell; ``(None, None)`` where it reports none."""
    value = reported.get(table, {}).get(run, {}).get(name, {}).get(metric)
    if value is None:
        return None, None
    return tuple(value) if isinstance(value, list) else (value, None)


class Family:
    """Base class of experiment families; a subclass is registered in ``FAMILIES``."""

    name: ClassVar[str]

    # ---- declarations -------------------------------------------------------------------
    def declarations(self) -> dict[str, Any]:
        """Every table and figure of the family (``params/<family>/tables.yaml``)."""
        return params.family_file(self.name, "tables")

    def reported(self) -> dict[str, Any]:
        """The papers' numbers (``params/<family>/reported.yaml``)."""
        return params.family_file(self.name, "reported")

    def kind(self, target: str) -> str:
        """``table`` or ``figure``: each declaration says which."""
        return self.declarations()[target]["kind"]

    def targets(self, kind: str | None = None) -> list[str]:
        return [t for t in self.declarations() if kind is None or self.kind(t) == kind]

    # ---- what a subclass provides -------------------------------------------------------
    def cells(self, target: str) -> list[str]:
        """The cells (runs) a table or figure reads."""
        raise NotImplementedError

    def profile_cells(self, target: str, profile: str) -> list[str]:
        """The cells a target needs in a profile (fewer where the profile runs a subset)."""
        return self.cells(target)

    def seeds(self, target: str, profile: str) -> list[int]:
        return params.seeds(profile)

    def compose(self, cell: str, profile: str) -> dict[str, Any]:
        """The validated parameter mapping of one cell in a profile."""
        raise NotImplementedError

    def datasets(self, cell: str, profile: str) -> list[str]:
        """The datasets (registry names) a run of the cell trains and tests on."""
        raise NotImplementedError

    def cited(self, target: str, profile: str) -> list[Path]:
        """Every result file a table or figure reads (root-relative): its target depends on
        them, so a deleted one is rebuilt."""
        raise NotImplementedError

    def train(self, args: Any) -> dict[str, Any]:
        """The ``train`` command: one run of a params file into a run folder."""
        raise NotImplementedError

    def first_phase(self, cell: str, seed: int, profile: str) -> str | None:
        """The cell whose run (same seed) a run of ``cell`` starts from, or None: its
        training job then depends on that run (two-phase learning)."""
        return None

    def rows(self, table: str, profile: str) -> list[dict[str, Any]]:
        """A table's rows (:data:`wheretolearn.tables.COLUMNS`), from result files alone."""
        raise NotImplementedError

    def write_table(self, table: str, profile: str) -> list[Path]:
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------
    def schema(self, name: str) -> Path | None:
        """The family's JSON schema ``<name>.schema.yaml`` (tables, profile, runs), if any."""
        path = Path(sys.modules[type(self).__module__].__file__).parent / f"{name}.schema.yaml"
        return path if path.is_file() else None

    def run_dir(self, profile: str, cell: str, seed: int) -> Path:
        return layout().run_dir(profile, self.name, cell, seed)

    def profile_targets(self, profile: str) -> list[str]:
        """The family's targets in a profile: all, or the subset its section's ``targets``
        lists (a profile whose data allows only some of the family's protocols)."""
        every = self.targets()
        subset = params.section(profile, self.name).get("targets")
        if subset is None:
            return every
        unknown = sorted(set(subset) - set(every))
        if unknown:
            raise ConfigError(
                f"params/profiles/{profile}.yaml: {self.name}.targets: {unknown} are not "
                f"targets of the family; known: {every}"
            )
        return [t for t in every if t in subset]

    def metric_tables(self, profile: str | None = None) -> list[str]:
        """The tables whose means are the family's DVC metrics (``metrics: true``), of the
        profile's targets where one is given."""
        chosen = self.targets() if profile is None else self.profile_targets(profile)
        return [t for t in self.targets("table")
                if t in chosen and self.declarations()[t].get("metrics", True)]  # fmt: skip


FAMILIES: Registry[Family] = Registry("family", "wheretolearn.experiments", "--family", "family")


def family(name: str) -> Family:
    return FAMILIES.get(name)


def family_of(target: str) -> Family:
    """The family that declares a table or figure."""
    for name in FAMILIES.names():
        if target in FAMILIES.get(name).declarations():
            return FAMILIES.get(name)
    known = sorted(t for n in FAMILIES.names() for t in FAMILIES.get(n).declarations())
    raise ConfigError(f"unknown table or figure {target!r}; known: {', '.join(known)}")
