"""The fewshot family's plug-in: what the stages, the command line and the Snakemake rules ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wheretolearn import params, tables
from wheretolearn.data.config import MIXTURE
from wheretolearn.experiments import FAMILIES, Family
from wheretolearn.experiments.fewshot import cells as cells_
from wheretolearn.experiments.fewshot import compose as compose_
from wheretolearn.experiments.fewshot import gems, speedup
from wheretolearn.paths import layout


class FewShot(Family):
    name = "fewshot"

    def cells(self, target: str) -> list[str]:
        """The target's cells, and the first phases they start from (each needs its run)."""
        return _with_phases(compose_.table_cells(self.declarations()[target]))

    def profile_cells(self, target: str, profile: str) -> list[str]:
        """The cells of the profile's subset (``target_runs``), with their first phases."""
        return _with_phases(self.target_cells(target, profile))

    def seeds(self, target: str, profile: str) -> list[int]:
        """The profile's seeds, or the first ``seeds`` of them where the declaration says (the
        paper ran Table 2 and S1 over 3 seeds, the others over 5)."""
        return cells_.seeds(self.declarations()[target], profile, target)

    def first_phase(self, cell: str, seed: int, profile: str) -> str | None:
        first = self.compose(cell, profile)["train"].get("init_from")
        return compose_.cell(first, compose_.split(cell)[1]) if first else None

    def compose(self, cell: str, profile: str) -> dict[str, Any]:
        return compose_.compose(cell, profile)

    def dataset_for(self, name: str, profile: str) -> str:
        """The dataset that a profile uses for a paper dataset name."""
        return compose_.dataset_for(name, params.section(profile, self.name))

    def datasets(self, cell: str, profile: str) -> list[str]:
        return self.compose(cell, profile)["data"]["dataset"].split(MIXTURE)

    def target_cells(self, target: str, profile: str) -> list[tuple[str, int, str]]:
        """``(run, shots, dataset)`` of a table or figure in a profile."""
        decl = self.declarations()[target]
        cells = compose_.table_cells(decl, compose_.target_runs(target, decl, profile))
        datasets = params.section(profile, self.name).get("target_datasets", {}).get(target)
        return [c for c in cells if datasets is None or c[2] in datasets]

    def evaluations(self, target: str, profile: str) -> list[Path]:
        """The evaluation files a table or figure reads (root-relative)."""
        return [
            _relative(cells_.eval_file(profile, run, shots, seed, dataset))
            for run, shots, dataset in self.target_cells(target, profile)
            for seed in self.seeds(target, profile)
        ]

    def cited(self, target: str, profile: str) -> list[Path]:
        decl = self.declarations()[target]
        # a speed-up table and its curves (``pairs``) read the training logs alone
        speed = "pairs" in decl
        files = [] if speed else self.evaluations(target, profile)
        logs = self.kind(target) == "figure" or "initial_sparsity" in cells_.metrics_of(decl)
        logs = logs or speed
        if logs:  # figures draw the training curves; the initial sparsity is their first line
            runs = dict.fromkeys((r, s) for r, s, _ in self.target_cells(target, profile))
            seeds = self.seeds(target, profile)
            files += [
                _relative(cells_.metrics_file(profile, r, s, e)) for r, s in runs for e in seeds
            ]
        return files

    def train(self, args: Any) -> dict[str, Any]:
        from wheretolearn.experiments.fewshot.run import main

        return main(args)

    def rows(self, table: str, profile: str) -> list[dict[str, Any]]:
        cells = self.target_cells(table, profile)
        seeds = self.seeds(table, profile)
        decl = self.declarations()[table]
        runs = {run for run, _, _ in cells}
        if "pairs" in decl:  # gradient sharing's speed-up, from the training logs
            return speedup.rows(decl, table, profile, seeds, runs)
        if "mixtures" in decl:  # GEMS: per training mixture and method
            return gems.rows(decl, table, profile, seeds, cells, self.reported())
        return cells_.rows(decl, cells, self.reported(), table, profile, seeds)

    def write_table(self, table: str, profile: str) -> list[Path]:
        rows = self.rows(table, profile)
        section = params.section(profile, self.name)
        decl = self.declarations()[table]
        title = decl["title"]
        seeds = self.seeds(table, profile)
        intro = [f"Profile **{profile}**: {section['description']}. Seeds: {seeds}."]
        intro += _intro(decl)
        grid = tables.Grid(("setting", "method"), "dataset") if "mixtures" in decl else None
        paths = layout().table_files(profile, self.name, table)
        return tables.write(paths, rows, grid or cells_.grid(rows), f"{table}: {title}", intro,
                            f"{title} (profile {profile})")  # fmt: skip


def _with_phases(cells) -> list[str]:
    found = []
    for run, shots, _ in cells:
        found += [compose_.cell(r, shots) for r in compose_.phases(run, shots)]
    return list(dict.fromkeys(found))


def _intro(decl: dict[str, Any]) -> list[str]:
    if "pairs" in decl:
        return speedup.INTRO
    return gems.INTRO if "mixtures" in decl else cells_.INTRO


def _relative(path: Path) -> Path:
    return path.relative_to(layout().root)


FAMILIES.register("fewshot")(FewShot())
