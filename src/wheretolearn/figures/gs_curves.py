"""Gradient sharing's meta-training curves (``gs_speedup_curves``, ``gs_lr_curves``): the
validation accuracy against outer iterations of every pair of its declaration (baseline and
shared variant), mean ± std over the figure's seeds, each panel titled with the speed-up
(experiments/fewshot/speedup.py: the same smoothing and the same "reach" as the table)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import seaborn as sns

from wheretolearn.experiments.fewshot.speedup import curve, smoothed, speedup
from wheretolearn.figures import FIGURES
from wheretolearn.figures._fewshot import cells, declaration, figure, save, seeds

VALIDATION = "validation accuracy (%)"


def frame(name: str, profile: str, shared: str, base: str, shots: int) -> tuple:
    """The pair's curves (raw and smoothed) per seed, and the speed-ups per seed."""
    window = declaration(name).get("smooth", 1)
    rows, gains = [], []
    for seed in seeds(name, profile):
        pair = {
            base: curve(profile, base, shots, seed),
            shared: curve(profile, shared, shots, seed),
        }
        for run, (iterations, accuracy) in pair.items():
            for it, raw, smooth in zip(
                iterations, accuracy, smoothed(accuracy, window), strict=True
            ):
                rows.append({"run": run, "seed": seed, "outer iterations": it,
                             VALIDATION: raw, "smoothed": smooth})  # fmt: skip
        gains.append(speedup(pair[base], pair[shared], window)["speedup"])
    return pd.DataFrame(rows), gains


def title(shared: str, gains: list) -> str:
    reached = [g for g in gains if g is not None]
    if not reached:
        return f"{shared}: baseline's best not reached ({len(gains)} seeds)"
    mean = sum(reached) / len(reached)
    return f"{shared}: speed-up {mean:+.0f}% ({len(reached)}/{len(gains)} seeds reached)"


def draw_pairs(name: str, profile: str) -> list[Path]:
    drawn = {run for run, _, _ in cells(name, profile)}
    pairs = [(s, b) for s, b in declaration(name)["pairs"].items() if s in drawn]
    shots = declaration(name)["settings"][0]
    cols = min(3, len(pairs))
    fig, axes = figure(math.ceil(len(pairs) / cols), cols)
    for ax, (shared, base) in zip(axes.flat, pairs, strict=False):
        data, gains = frame(name, profile, shared, base, shots)
        sns.lineplot(data, x="outer iterations", y=VALIDATION, hue="run", errorbar="sd", ax=ax)
        sns.lineplot(data, x="outer iterations", y="smoothed", hue="run", errorbar=None,
                     linestyle="--", legend=False, ax=ax)  # fmt: skip
        ax.set_title(title(shared, gains), fontsize=8)
    for ax in list(axes.flat)[len(pairs) :]:
        ax.set_visible(False)
    return save(fig, profile, name)


@FIGURES.register("gs_speedup_curves")
def draw_speedup(profile: str) -> list[Path]:
    return draw_pairs("gs_speedup_curves", profile)


@FIGURES.register("gs_lr_curves")
def draw_lr(profile: str) -> list[Path]:
    return draw_pairs("gs_lr_curves", profile)
