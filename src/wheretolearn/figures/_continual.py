"""Shared parts of the continual-learning figures (3, 4, S3, S4): data frames read from
runs' ``summary.json`` files and composed params files alone, and the panels drawn from them.
Every curve and point is the mean over the figure's seeds with a ± std band or bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import yaml  # noqa: E402

from wheretolearn.experiments import family  # noqa: E402
from wheretolearn.experiments.continual.cells import (  # noqa: E402
    layer_labels,
    read_result,
    result_file,
)
from wheretolearn.experiments.continual.compose import benchmark, cell  # noqa: E402
from wheretolearn.figures._save import save_figure  # noqa: E402
from wheretolearn.paths import layout  # noqa: E402

FAMILY = family("continual")

SPARSITY = "sparsity (%)"
STEP = "stream step"


def trace_frame(profile: str, name: str, run: str, bench: str) -> pd.DataFrame:
    """Per-tensor sparsity records over the stream: seed, task, step, epoch, tensor, sparsity;
    tensors named W1.. (weights) and b1.. (biases), input to output."""
    rows = []
    for seed in FAMILY.seeds(name, profile):
        result = read_result(result_file(profile, run, bench, seed))
        labels = {v: k for k, v in layer_labels(result["parameters"]).items()}
        for record in result["sparsity"]["trace"]:
            for tensor, value in record["tensors"].items():
                rows.append(
                    {
                        "seed": seed,
                        "task": record["task"],
                        STEP: record["step"],
                        "epoch": record["epoch"],
                        "tensor": labels.get(tensor, tensor),
                        SPARSITY: 100.0 * value,
                    }
                )
    return pd.DataFrame(rows)


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def sweep_frame(profile: str, name: str, bench: str) -> pd.DataFrame:
    """One row per sweep run and seed: the swept value, RA (%) and final overall sparsity (%)."""
    sweep = FAMILY.declarations()[name]["sweep"]
    rows = []
    for run in sweep["runs"]:
        params = yaml.safe_load(
            layout().composed(profile, "continual", cell(run, bench)).read_text()
        )
        x = _lookup(params, sweep["x"])
        for seed in FAMILY.seeds(name, profile):
            result = read_result(result_file(profile, run, bench, seed))
            rows.append(
                {
                    sweep["label"]: x,
                    "seed": seed,
                    "RA (%)": float(result["retained_accuracy"]),
                    SPARSITY: 100.0 * float(result["sparsity"]["final_overall"]),
                }
            )
    return pd.DataFrame(rows)


def task_starts(frame: pd.DataFrame) -> list[int]:
    """The first recorded step of every task after the first (and of every later epoch)."""
    first = frame.groupby(["task", "epoch"])[STEP].min().sort_values()
    return [int(s) for s in first.iloc[1:]]


def trace_panel(ax, frame: pd.DataFrame, title: str) -> None:
    order = sorted(frame["tensor"].unique(), key=lambda t: (t[0] != "W", t))
    sns.lineplot(frame, x=STEP, y=SPARSITY, hue="tensor", hue_order=order, errorbar="sd", ax=ax)
    for step in task_starts(frame):
        ax.axvline(step, color="0.5", linestyle=":", linewidth=0.8, zorder=0)
    ax.set_ylim(-2, 102)
    ax.set_xlabel(f"{STEP} (dotted: a task or pass starts)")
    ax.set_title(title)


def sweep_panel(ax, frame: pd.DataFrame, label: str, title: str) -> None:
    """Overall sparsity (left axis) and RA (right axis) against the swept value."""
    sns.lineplot(frame, x=label, y=SPARSITY, errorbar="sd", marker="o", ax=ax, color="C0")
    right = ax.twinx()
    sns.lineplot(frame, x=label, y="RA (%)", errorbar="sd", marker="s", ax=right, color="C3")
    ax.set_ylabel(SPARSITY, color="C0")
    right.set_ylabel("RA (%)", color="C3")
    right.grid(False)
    ax.set_title(title)


def figure(rows: int, cols: int) -> tuple[Any, Any]:
    sns.set_theme(style="whitegrid", context="paper")
    return plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)


def save(fig, profile: str, name: str) -> list[Path]:
    title = FAMILY.declarations()[name]["title"]
    return save_figure(fig, title, profile, "continual", name)


def sparsity_figure(profile: str, name: str) -> list[Path]:
    """Figures 3 and S4: per benchmark a row of La-MAML's and sparse-La-MAML's per-tensor
    sparsity over the stream, and sparse-La-MAML's overall sparsity and RA against width."""
    decl = FAMILY.declarations()[name]
    benches = decl["benchmarks"]
    fig, axes = figure(len(benches), 3)
    for row, bench in zip(axes, benches, strict=True):
        label = benchmark(bench)["dataset"]
        for ax, run in zip(row[:2], decl["runs"], strict=True):
            trace_panel(ax, trace_frame(profile, name, run, bench), f"{run}, {label}")
        sweep_panel(
            row[2],
            sweep_frame(profile, name, bench),
            decl["sweep"]["label"],
            f"sparse-la-maml against width, {label}",
        )
    return save(fig, profile, name)
