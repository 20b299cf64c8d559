"""Figure S2: 1-shot MAML and sparse-MAML against the inner-loop length (left), and sparse-MAML's
accuracy and sparsity against the conv4 width at alpha 0.1, K 25 (right)."""

from __future__ import annotations

from pathlib import Path

from wheretolearn.figures import FIGURES
from wheretolearn.figures._fewshot import figure, save, scan_frame, scan_panels

NAME = "figureS2"
LENGTH = ["maml-k5", "maml-k15", "maml-k25", "sparse-maml-k5", "sparse-maml-k15",
          "sparse-maml-k25"]  # fmt: skip
WIDTH = ["sparse-maml-h16", "sparse-maml-h32", "sparse-maml-k25", "sparse-maml-h128"]


@FIGURES.register(NAME)
def draw(profile: str) -> list[Path]:
    fig, axes = figure(2, 2)
    steps = scan_frame(profile, NAME, LENGTH, "train.inner_steps", "inner-loop steps K")
    scan_panels(axes[:, 0], steps, "inner-loop steps K", "1-shot: against the inner-loop length")
    widths = scan_frame(profile, NAME, WIDTH, "model.hidden", "conv4 width")
    scan_panels(axes[:, 1], widths, "conv4 width", "against the width", log=True)
    return save(fig, profile, NAME)
