"""Shared parts of the few-shot figures: the training histories (``metrics.jsonl``) and test
results of a figure's runs, read from result files alone, and saving with the figure's title."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import yaml  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from wheretolearn.experiments import family  # noqa: E402
from wheretolearn.experiments.fewshot.cells import eval_file, metrics_file  # noqa: E402
from wheretolearn.experiments.fewshot.compose import cell  # noqa: E402
from wheretolearn.figures._save import save_figure  # noqa: E402
from wheretolearn.paths import layout  # noqa: E402

FAMILY = family("fewshot")
SPARSITY = "sparsity (%)"
ACCURACY = "test accuracy (%)"


def declaration(name: str) -> dict[str, Any]:
    return FAMILY.declarations()[name]


def cells(name: str, profile: str) -> list[tuple[str, int, str]]:
    """``(run, shots, dataset)`` of every cell the figure draws in the profile."""
    return FAMILY.target_cells(name, profile)


def seeds(name: str, profile: str) -> list[int]:
    return FAMILY.seeds(name, profile)


def history(profile: str, run: str, shots: int, seed: int) -> list[dict[str, Any]]:
    """A run's training log: epoch 0 (the initial state), then one record per epoch."""
    path = metrics_file(profile, run, shots, seed)
    return [json.loads(line) for line in path.read_text().splitlines()]


def accuracy(profile: str, run: str, shots: int, seed: int, dataset: str) -> float:
    return 100.0 * float(result(profile, run, shots, seed, dataset)["accuracy"])


def composed(profile: str, run: str, shots: int) -> dict[str, Any]:
    """The run's parameters as composed for the profile (what it actually ran with)."""
    return yaml.safe_load(layout().composed(profile, "fewshot", cell(run, shots)).read_text())


def lookup(mapping: dict[str, Any], dotted: str) -> Any:
    node: Any = mapping
    for key in dotted.split("."):
        node = node[key]
    return node


def figure(rows: int, cols: int, width: float = 5.0) -> tuple[Any, Any]:
    sns.set_theme(style="whitegrid", context="paper")
    return plt.subplots(rows, cols, figsize=(width * cols, 3.8 * rows), squeeze=False)


def save(fig, profile: str, name: str) -> list[Path]:
    for ax in fig.axes:
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save_figure(fig, declaration(name)["title"], profile, "fewshot", name)


def result(profile: str, run: str, shots: int, seed: int, dataset: str) -> dict[str, Any]:
    return json.loads(eval_file(profile, run, shots, seed, dataset).read_text())


def scan_frame(profile: str, name: str, runs: list[str], x: str, label: str) -> pd.DataFrame:
    """One row per run of ``runs`` the figure draws in the profile, and seed: the method, the
    scanned value ``x`` (a dotted key of the composed params: what the run actually used),
    test accuracy and the tested model's sparsity (%)."""
    rows = []
    for run, shots, dataset in cells(name, profile):
        if run not in runs:
            continue
        used = composed(profile, run, shots)
        for seed in seeds(name, profile):
            found = result(profile, run, shots, seed, dataset)
            rows.append(
                {
                    "method": used["method"]["name"],
                    label: lookup(used, x),
                    "seed": seed,
                    ACCURACY: 100.0 * float(found["accuracy"]),
                    SPARSITY: 100.0 * float(found["sparsity"]),
                }
            )
    return pd.DataFrame(rows)


def scan_panels(axes, frame: pd.DataFrame, label: str, title: str, log: bool = False) -> None:
    """Accuracy (top) and sparsity (bottom) against the scanned value, mean ± std per method."""
    for ax, y in zip(axes, (ACCURACY, SPARSITY), strict=True):
        sns.lineplot(frame, x=label, y=y, hue="method", errorbar="sd", marker="o", ax=ax)
        if log:
            ax.set_xscale("log")
        ax.set_title(title)
    axes[1].set_ylim(-2, 102)
