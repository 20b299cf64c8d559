"""Figure S3: sparse-La-MAML on MNIST permutations: retained accuracy and final overall
gradient sparsity against the inner-loop learning rate alpha_0."""

from __future__ import annotations

from pathlib import Path

import seaborn as sns

from wheretolearn.figures import FIGURES
from wheretolearn.figures._continual import FAMILY, SPARSITY, figure, save, sweep_frame

NAME = "figureS3"


@FIGURES.register("figureS3")
def draw(profile: str) -> list[Path]:
    decl = FAMILY.declarations()[NAME]
    (bench,), label = decl["benchmarks"], decl["sweep"]["label"]
    frame = sweep_frame(profile, NAME, bench)
    fig, axes = figure(1, 2)
    for ax, y in zip(axes[0], ("RA (%)", SPARSITY), strict=True):
        sns.lineplot(frame, x=label, y=y, errorbar="sd", marker="o", ax=ax)
        ax.set_title(f"{y.split(' ')[0]} against {label}")
    axes[0][1].set_title(f"final overall sparsity against {label}")
    return save(fig, profile, NAME)
