"""The continual family's plug-in: what the stages, the command line and the Snakemake rules ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wheretolearn import params, tables
from wheretolearn.experiments import FAMILIES, Family
from wheretolearn.experiments.continual import cells as cells_
from wheretolearn.experiments.continual import compose as compose_
from wheretolearn.paths import layout


class Continual(Family):
    name = "continual"

    def cells(self, target: str) -> list[str]:
        decl = self.declarations()[target]
        return [compose_.cell(run, bench) for run, bench in compose_.table_cells(decl)]

    def seeds(self, target: str, profile: str) -> list[int]:
        return cells_.seeds(self.declarations()[target], profile)

    def compose(self, cell: str, profile: str) -> dict[str, Any]:
        return compose_.compose(cell, profile)

    def datasets(self, cell: str, profile: str) -> list[str]:
        stream = self.compose(cell, profile)["stream"]
        return sorted({stream["dataset"], stream.get("test_dataset") or stream["dataset"]})

    def cited(self, target: str, profile: str) -> list[Path]:
        decl = self.declarations()[target]
        return [
            cells_.result_file(profile, run, bench, seed).relative_to(layout().root)
            for run, bench in compose_.table_cells(decl)
            for seed in self.seeds(target, profile)
        ]

    def train(self, args: Any) -> dict[str, Any]:
        from wheretolearn.experiments.continual.run import main

        return main(args)

    def rows(self, table: str, profile: str) -> list[dict[str, Any]]:
        return cells_.rows(self.declarations()[table], self.reported(), table, profile)

    def write_table(self, table: str, profile: str) -> list[Path]:
        decl = self.declarations()[table]
        section = params.section(profile, self.name)
        seeds = self.seeds(table, profile)
        intro = [f"Profile **{profile}**: {section['description']}. Seeds: {seeds}.", *cells_.INTRO]
        paths = layout().table_files(profile, self.name, table)
        rows = self.rows(table, profile)
        return tables.write(paths, rows, cells_.grid(self.reported(), table),
                            f"{table}: {decl['title']}", intro,
                            f"{decl['title']} (profile {profile})")  # fmt: skip


FAMILIES.register("continual")(Continual())
