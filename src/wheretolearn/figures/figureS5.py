"""Figure S5: sparse-C-MAML's per-layer gradient sparsity over the online stream, one panel per
setting (p), from the runs' sparsity traces (``metrics.jsonl``) and summaries alone. A layer's
sparsity is its tensors' (weight and bias) parameter-weighted mean; every curve is the mean
over the profile's seeds with a ± std band. The paper: "gradient sparsity decreases with depth
and rises again for the output layer"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from wheretolearn.errors import UserError  # noqa: E402
from wheretolearn.experiments import family  # noqa: E402
from wheretolearn.experiments.online.cells import read_result, result_file  # noqa: E402
from wheretolearn.experiments.online.compose import setting  # noqa: E402
from wheretolearn.figures import FIGURES  # noqa: E402
from wheretolearn.figures._save import save_figure  # noqa: E402

NAME = "figureS5"
SPARSITY = "sparsity (%)"
STEP = "stream step"


def layer_of(tensor: str) -> str:
    """``conv1`` .. ``conv4`` for the conv4's blocks, ``head`` for its classifier."""
    match = re.search(r"layer(\d+)", tensor)
    if match:
        return f"conv{match.group(1)}"
    return "head" if tensor.startswith("classifier") else tensor


def read_trace(path: Path) -> list[dict]:
    if not path.exists():
        raise UserError(f"missing sparsity trace {path}: run `snakemake {NAME}` first")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def layer_frame(profile: str, run: str, name: str) -> pd.DataFrame:
    """One row per seed, trace step and layer: the layer's sparsity in percent."""
    rows = []
    for seed in family("online").seeds(NAME, profile):
        sizes = read_result(result_file(profile, run, name, seed))["parameters"]
        for record in read_trace(result_file(profile, run, name, seed, "metrics.jsonl")):
            per_layer: dict[str, list[float]] = {}
            for tensor, value in record["sparsity_per_tensor"].items():
                acc = per_layer.setdefault(layer_of(tensor), [0.0, 0.0])
                acc[0] += value * sizes[tensor]
                acc[1] += sizes[tensor]
            for layer, (weighted, total) in per_layer.items():
                rows.append({"seed": seed, STEP: record["step"], "layer": layer,
                             SPARSITY: 100.0 * weighted / total})  # fmt: skip
    return pd.DataFrame(rows)


@FIGURES.register(NAME)
def draw(profile: str) -> list[Path]:
    decl = family("online").declarations()[NAME]
    (run,), names = decl["runs"], decl["settings"]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        frame = layer_frame(profile, run, name)
        order = sorted(frame["layer"].unique(), key=lambda n: (n == "head", n))
        sns.lineplot(frame, x=STEP, y=SPARSITY, hue="layer", hue_order=order, errorbar="sd",
                     ax=ax)  # fmt: skip
        ax.set_ylim(-2, 102)
        ax.set_title(f"{run}, {setting(name)['label']}")
    return save_figure(fig, decl["title"], profile, "online", NAME)
