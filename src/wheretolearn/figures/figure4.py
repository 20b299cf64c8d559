"""Figure 4: La-MAML's per-tensor gradient sparsity on MNIST rotations when every task's data
are passed over 10 times (epochs) before the next task; grey lines mark task and epoch starts."""

from __future__ import annotations

from pathlib import Path

from wheretolearn.figures import FIGURES
from wheretolearn.figures._continual import FAMILY, figure, save, trace_frame, trace_panel

NAME = "figure4"


@FIGURES.register("figure4")
def draw(profile: str) -> list[Path]:
    decl = FAMILY.declarations()[NAME]
    (run,), (bench,) = decl["runs"], decl["benchmarks"]
    fig, axes = figure(1, 1)
    trace_panel(axes[0][0], trace_frame(profile, NAME, run, bench), f"{run}, {bench}")
    return save(fig, profile, NAME)
