"""Figures, each a pure function of result files, registered by name:
``python -m wheretolearn figure NAME --profile P`` draws ``figures/<profile>/<family>/NAME``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wheretolearn.registry import Registry

FIGURES: Registry[Callable[[str], list[Path]]] = Registry(
    "figure", "wheretolearn.figures", "figure"
)
