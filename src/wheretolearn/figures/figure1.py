"""Figure 1: sparse-MAML's gradient sparsity over training for several initial sparsities,
per-layer final sparsity, and test accuracy against initial sparsity (5-shot)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from wheretolearn import params  # noqa: E402
from wheretolearn.experiments import family  # noqa: E402
from wheretolearn.experiments.fewshot.cells import eval_file, metrics_file  # noqa: E402
from wheretolearn.experiments.fewshot.compose import table_cells  # noqa: E402
from wheretolearn.figures import FIGURES  # noqa: E402
from wheretolearn.paths import layout  # noqa: E402


def _history(profile: str, run: str, shots: int, seed: int) -> list[dict]:
    path = metrics_file(profile, run, shots, seed)
    return [json.loads(line) for line in path.read_text().splitlines()]


def frames(profile: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Curves (run, seed, epoch, sparsity), layers (run, tensor, sparsity), accuracy points."""
    curves, layers, points = [], [], []
    for run, shots, target in table_cells(family("fewshot").declarations()["figure1"]):
        for seed in params.seeds(profile):
            history = _history(profile, run, shots, seed)
            initial = 100 * history[0]["sparsity"]
            label = f"{initial:.0f}% initially"
            curves += [
                {
                    "init": label,
                    "seed": seed,
                    "epoch": r["epoch"],
                    "sparsity (%)": 100 * r["sparsity"],
                }
                for r in history
            ]
            layers += [
                {"init": label, "tensor": name, "sparsity (%)": 100 * value}
                for name, value in history[-1]["sparsity_per_tensor"].items()
            ]
            result = json.loads(eval_file(profile, run, shots, seed, target).read_text())
            points.append(
                {"initial sparsity (%)": initial, "test accuracy (%)": 100 * result["accuracy"]}
            )
    return pd.DataFrame(curves), pd.DataFrame(layers), pd.DataFrame(points)


@FIGURES.register("figure1")
def draw(profile: str) -> list[Path]:
    curves, layers, points = frames(profile)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), gridspec_kw={"width_ratios": [1, 1.6, 1]})
    sns.lineplot(curves, x="epoch", y="sparsity (%)", hue="init", ax=axes[0])
    axes[0].set_title("sparsity over meta-training")
    sns.barplot(layers, x="tensor", y="sparsity (%)", hue="init", ax=axes[1], legend=False)
    axes[1].tick_params(axis="x", rotation=90, labelsize=6)
    axes[1].set_title("final sparsity per tensor")
    sns.scatterplot(points, x="initial sparsity (%)", y="test accuracy (%)", ax=axes[2])
    axes[2].set_title("test accuracy against initial sparsity")
    fig.suptitle(f"{family('fewshot').declarations()['figure1']['title']} (profile {profile})")
    fig.tight_layout()
    paths = layout().figure_files(profile, "fewshot", "figure1")
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths
