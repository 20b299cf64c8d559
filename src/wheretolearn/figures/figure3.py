"""Figure 3: MNIST rotations. Left and centre: per-tensor gradient sparsity of La-MAML and
sparse-La-MAML over the stream; right: sparse-La-MAML's overall sparsity and RA against the
width of both hidden layers."""

from __future__ import annotations

from pathlib import Path

from wheretolearn.figures import FIGURES
from wheretolearn.figures._continual import sparsity_figure


@FIGURES.register("figure3")
def draw(profile: str) -> list[Path]:
    return sparsity_figure(profile, "figure3")
