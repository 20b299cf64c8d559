"""The online metrics: cumulative accuracy (total and per mode) and the switch detector's
precision and recall against the stream's true switches.

The cumulative online accuracy is the mean over steps of the accuracy of the prediction made
*before* adapting to the step's batch (C-MAML's ``accuracy_after`` of the previous fast weights:
the score of an online learner), in percent; per mode, the same mean over the steps of that
mode. A detection at step ``t`` is a true positive when the stream switched at ``t`` (the
detector judges the batch that has just arrived). Precision and recall are None where they are
undefined (no detection, no switch).
"""

from __future__ import annotations

from typing import Any


def detect_switch(loss_before: float, loss_after: float, gamma: float) -> bool:
    """C-MAML's task-boundary test: the loss on the incoming batch dropped by at least
    ``gamma`` when adapting to it (written ``loss_after + gamma <= loss_before``, the authors'
    form, so that a drop of exactly gamma fires)."""
    return loss_after + gamma <= loss_before


class OnlineMetrics:
    """Accumulators of the online metrics; plain numbers, so they checkpoint as they are."""

    def __init__(self) -> None:
        self.steps = 0
        self.total = 0.0  # sum over steps of the pre-adaptation accuracy (a fraction)
        self.modes: dict[str, list[float]] = {}  # mode -> [sum of accuracies, steps]
        self.switches = self.detections = self.hits = 0
        #: per step: [mode, true switch, detected, accuracy] (for plots and diagnostics)
        self.history: list[list[Any]] = []

    def record(self, mode: str, accuracy: float, *, switched: bool, detected: bool) -> None:
        """One step: the accuracy (fraction in [0, 1]) before adapting, the true switch flag
        and the detector's verdict."""
        if not 0.0 <= accuracy <= 1.0:
            raise ValueError(f"accuracy must be a fraction in [0, 1], got {accuracy}")
        self.steps += 1
        self.total += accuracy
        entry = self.modes.setdefault(mode, [0.0, 0])
        entry[0] += accuracy
        entry[1] += 1
        self.switches += int(switched)
        self.detections += int(detected)
        self.hits += int(switched and detected)
        self.history.append([mode, bool(switched), bool(detected), float(accuracy)])

    def summary(self) -> dict[str, Any]:
        """Percent accuracies, total and per mode; detector counts, precision and recall."""
        if self.steps == 0:
            raise ValueError("no step was recorded")
        return {
            "steps": self.steps,
            "accuracy": 100.0 * self.total / self.steps,
            "per_mode": {m: 100.0 * s / n for m, (s, n) in sorted(self.modes.items())},
            "steps_per_mode": {m: n for m, (_, n) in sorted(self.modes.items())},
            "switches": self.switches,
            "detections": self.detections,
            "true_detections": self.hits,
            "precision": self.hits / self.detections if self.detections else None,
            "recall": self.hits / self.switches if self.switches else None,
        }

    def state(self) -> dict[str, Any]:
        return {
            "steps": self.steps, "total": self.total,
            "modes": {m: list(v) for m, v in self.modes.items()},
            "switches": self.switches, "detections": self.detections, "hits": self.hits,
            "history": [list(row) for row in self.history],
        }  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.steps, self.total = state["steps"], state["total"]
        self.modes = {m: list(v) for m, v in state["modes"].items()}
        self.switches, self.detections = state["switches"], state["detections"]
        self.hits = state["hits"]
        self.history = [list(row) for row in state["history"]]
