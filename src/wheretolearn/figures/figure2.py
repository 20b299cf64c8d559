"""Figure 2: MAML and sparse-MAML test accuracy and gradient sparsity against the inner-loop
length (alpha 0.1; left) and the inner learning rate (K 25; right), 5-shot."""

from __future__ import annotations

from pathlib import Path

from wheretolearn.figures import FIGURES
from wheretolearn.figures._fewshot import figure, save, scan_frame, scan_panels

NAME = "figure2"
LENGTH = ["maml-k5", "maml-k15", "maml-k25", "sparse-maml-k5", "sparse-maml-k15",
          "sparse-maml-k25"]  # fmt: skip
RATE = ["maml-lr0.01", "maml-lr0.03", "maml-k25", "maml-lr0.3", "maml-lr0.5",
        "sparse-maml-lr0.01", "sparse-maml-lr0.03", "sparse-maml-k25", "sparse-maml-lr0.3",
        "sparse-maml-lr0.5"]  # fmt: skip


@FIGURES.register(NAME)
def draw(profile: str) -> list[Path]:
    fig, axes = figure(2, 2)
    steps = scan_frame(profile, NAME, LENGTH, "train.inner_steps", "inner-loop steps K")
    scan_panels(axes[:, 0], steps, "inner-loop steps K", "against the inner-loop length")
    rates = scan_frame(profile, NAME, RATE, "method.alpha", "inner learning rate alpha")
    scan_panels(axes[:, 1], rates, "inner learning rate alpha", "against alpha", log=True)
    return save(fig, profile, NAME)
