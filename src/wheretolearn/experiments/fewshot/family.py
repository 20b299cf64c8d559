"""The fewshot family's plug-in: what the stages, the command line and the Snakemake rules ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wheretolearn import params, tables
from wheretolearn.experiments import FAMILIES, Family
from wheretolearn.experiments.fewshot import cells as cells_
from wheretolearn.experiments.fewshot import compose as compose_
from wheretolearn.paths import layout


class FewShot(Family):
    name = "fewshot"

    def cells(self, target: str) -> list[str]:
        decl = self.declarations()[target]
        found = [compose_.cell(run, shots) for run, shots, _ in compose_.table_cells(decl)]
        return list(dict.fromkeys(found))

    def compose(self, cell: str, profile: str) -> dict[str, Any]:
        return compose_.compose(cell, profile)

    def dataset_for(self, name: str, profile: str) -> str:
        """The dataset that a profile uses for a paper dataset name."""
        return compose_.dataset_for(name, params.section(profile, self.name))

    def datasets(self, cell: str, profile: str) -> list[str]:
        return [self.compose(cell, profile)["data"]["dataset"]]

    def evaluations(self, target: str, profile: str) -> list[Path]:
        """The evaluation files a table or figure reads (root-relative)."""
        decl, rel = self.declarations()[target], _relative
        return [
            rel(cells_.eval_file(profile, run, shots, seed, dataset))
            for run, shots, dataset in compose_.table_cells(decl)
            for seed in self.seeds(target, profile)
        ]

    def cited(self, target: str, profile: str) -> list[Path]:
        files = self.evaluations(target, profile)
        if self.kind(target) == "figure":  # figures also draw the training curves
            decl = self.declarations()[target]
            runs = dict.fromkeys((r, s) for r, s, _ in compose_.table_cells(decl))
            seeds = self.seeds(target, profile)
            files += [
                _relative(cells_.metrics_file(profile, r, s, e)) for r, s in runs for e in seeds
            ]
        return files

    def train(self, args: Any) -> dict[str, Any]:
        from wheretolearn.experiments.fewshot.run import main

        return main(args)

    def rows(self, table: str, profile: str) -> list[dict[str, Any]]:
        return cells_.rows(self.declarations()[table], self.reported(), table, profile)

    def write_table(self, table: str, profile: str) -> list[Path]:
        rows = self.rows(table, profile)
        section = params.section(profile, self.name)
        title = self.declarations()[table]["title"]
        intro = [
            f"Profile **{profile}**: {section['description']}. Seeds: {params.seeds(profile)}.",
            *cells_.INTRO,
        ]
        paths = layout().table_files(profile, self.name, table)
        return tables.write(paths, rows, cells_.grid(rows), f"{table}: {title}", intro,
                            f"{title} (profile {profile})")  # fmt: skip


def _relative(path: Path) -> Path:
    return path.relative_to(layout().root)


FAMILIES.register("fewshot")(FewShot())
