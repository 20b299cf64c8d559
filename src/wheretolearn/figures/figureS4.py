"""Figure S4: Figure 3 for MNIST permutations (top row) and many permutations (bottom row)."""

from __future__ import annotations

from pathlib import Path

from wheretolearn.figures import FIGURES
from wheretolearn.figures._continual import sparsity_figure


@FIGURES.register("figureS4")
def draw(profile: str) -> list[Path]:
    return sparsity_figure(profile, "figureS4")
