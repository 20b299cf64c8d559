"""Figure S1: BatchNorm-gain sparsity per layer over training for the run initialised at about
50% sparsity (left), and the output bias's sparsity over training for several initial
sparsities (right); sparse-MAML, 5-shot, alpha 0.1, K 25 (the runs of Figure 1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from wheretolearn.figures import FIGURES
from wheretolearn.figures._fewshot import SPARSITY, cells, figure, history, save, seeds

NAME = "figureS1"
GAIN = ".norm.weight"  # BatchNorm's gain (conv4: features.layer<i>.norm.weight)
OUTPUT_BIAS = "classifier.bias"


def frames(profile: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gains (seed, epoch, layer, sparsity) of the run starting nearest 50%, and output biases
    (init, seed, epoch, sparsity) of every run."""
    runs: dict[str, list[pd.DataFrame]] = {}
    starts: dict[str, float] = {}
    biases = []
    for run, shots, _ in dict.fromkeys((r, s, d) for r, s, d in cells(NAME, profile)):
        for seed in seeds(NAME, profile):
            records = history(profile, run, shots, seed)
            starts.setdefault(run, 100 * records[0]["sparsity"])
            label = f"{starts[run]:.0f}% initially"
            rows = [
                {"seed": seed, "epoch": r["epoch"], "layer": t.split(".")[1], SPARSITY: 100 * v}
                for r in records
                for t, v in r["sparsity_per_tensor"].items()
                if t.endswith(GAIN)
            ]
            runs.setdefault(run, []).append(pd.DataFrame(rows))
            biases += [
                {"init": label, "seed": seed, "epoch": r["epoch"],
                 SPARSITY: 100 * r["sparsity_per_tensor"][OUTPUT_BIAS]}
                for r in records
            ]  # fmt: skip
    half = min(starts, key=lambda run: abs(starts[run] - 50.0))
    return pd.concat(runs[half], ignore_index=True), pd.DataFrame(biases)


@FIGURES.register(NAME)
def draw(profile: str) -> list[Path]:
    gains, biases = frames(profile)
    fig, axes = figure(1, 2)
    sns.lineplot(gains, x="epoch", y=SPARSITY, hue="layer", errorbar="sd", ax=axes[0][0])
    axes[0][0].set_title("BatchNorm gain sparsity per layer (initially ~50%)")
    sns.lineplot(biases, x="epoch", y=SPARSITY, hue="init", errorbar="sd", ax=axes[0][1])
    axes[0][1].set_title("output bias sparsity")
    for ax in axes[0]:
        ax.set_ylim(-2, 102)
    return save(fig, profile, NAME)
