"""Figure 1: sparse-MAML's gradient sparsity over training for several initial sparsities,
per-layer final sparsity, and test accuracy against initial sparsity (5-shot)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from wheretolearn.figures import FIGURES
from wheretolearn.figures._fewshot import (
    ACCURACY,
    SPARSITY,
    accuracy,
    cells,
    figure,
    history,
    save,
    seeds,
)

NAME = "figure1"


def frames(profile: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Curves (init, seed, epoch, sparsity), layers (init, tensor, sparsity), accuracy points."""
    curves, layers, points = [], [], []
    for run, shots, target in cells(NAME, profile):
        for seed in seeds(NAME, profile):
            records = history(profile, run, shots, seed)
            initial = 100 * records[0]["sparsity"]
            label = f"{initial:.0f}% initially"
            curves += [
                {"init": label, "seed": seed, "epoch": r["epoch"], SPARSITY: 100 * r["sparsity"]}
                for r in records
            ]
            layers += [
                {"init": label, "tensor": name, SPARSITY: 100 * value}
                for name, value in records[-1]["sparsity_per_tensor"].items()
            ]
            points.append(
                {
                    "initial sparsity (%)": initial,
                    ACCURACY: accuracy(profile, run, shots, seed, target),
                }
            )
    return pd.DataFrame(curves), pd.DataFrame(layers), pd.DataFrame(points)


@FIGURES.register(NAME)
def draw(profile: str) -> list[Path]:
    curves, layers, points = frames(profile)
    fig, axes = figure(1, 3)
    axes = axes[0]
    sns.lineplot(curves, x="epoch", y=SPARSITY, hue="init", errorbar="sd", ax=axes[0])
    axes[0].set_title("sparsity over meta-training")
    sns.barplot(layers, x="tensor", y=SPARSITY, hue="init", ax=axes[1], legend=False)
    axes[1].tick_params(axis="x", rotation=90, labelsize=6)
    axes[1].set_title("final sparsity per tensor")
    sns.scatterplot(points, x="initial sparsity (%)", y=ACCURACY, ax=axes[2])
    axes[2].set_title("test accuracy against initial sparsity")
    return save(fig, profile, NAME)
