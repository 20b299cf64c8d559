"""The online family's plug-in: what the stages, the command line and the Snakemake rules ask.
Like the continual family it has no evaluation stage: a run's score is its online accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wheretolearn import params, tables
from wheretolearn.experiments import FAMILIES, Family
from wheretolearn.experiments.online import cells as cells_
from wheretolearn.experiments.online import compose as compose_
from wheretolearn.paths import layout


class Online(Family):
    name = "online"

    def cells(self, target: str) -> list[str]:
        decl = self.declarations()[target]
        return [compose_.cell(run, name) for run, name in compose_.table_cells(decl)]

    def compose(self, cell: str, profile: str) -> dict[str, Any]:
        return compose_.compose(cell, profile)

    def datasets(self, cell: str, profile: str) -> list[str]:
        return compose_.datasets(self.compose(cell, profile))

    def seeds(self, target: str, profile: str) -> list[int]:
        """The section's own ``seeds`` where it gives them (a long stream that affords fewer
        seeds than the profile's other families), else the profile's."""
        return params.section(profile, self.name).get("seeds") or params.seeds(profile)

    def cited(self, target: str, profile: str) -> list[Path]:
        """A table reads the runs' summaries; a figure their sparsity traces too."""
        files = (
            ("summary.json",) if self.kind(target) == "table" else ("summary.json", "metrics.jsonl")
        )
        return cells_.cited(
            self.declarations()[target], profile, self.seeds(target, profile), files
        )

    def train(self, args: Any) -> dict[str, Any]:
        from wheretolearn.experiments.online.run import main

        return main(args)

    def rows(self, table: str, profile: str) -> list[dict[str, Any]]:
        decl, seeds = self.declarations()[table], self.seeds(table, profile)
        return cells_.rows(decl, self.reported(), table, profile, seeds)

    def write_table(self, table: str, profile: str) -> list[Path]:
        decl = self.declarations()[table]
        section = params.section(profile, self.name)
        seeds = self.seeds(table, profile)
        intro = [f"Profile **{profile}**: {section['description']}. Seeds: {seeds}.", *cells_.INTRO,
                 *cells_.misprint_notes(self.reported(), table)]  # fmt: skip
        paths = layout().table_files(profile, self.name, table)
        return tables.write(paths, self.rows(table, profile), cells_.grid(decl),
                            f"{table}: {decl['title']}", intro,
                            f"{decl['title']} (profile {profile})")  # fmt: skip


FAMILIES.register("online")(Online())
