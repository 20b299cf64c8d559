"""Figures, each a pure function of results files: ``python -m wheretolearn figure NAME``."""

from __future__ import annotations

import argparse

from wheretolearn.errors import UserError

FIGURES = {
    name: f"wheretolearn.figures.{name}"
    for name in ("figure1", "figure3", "figure4", "figureS3", "figureS4")
}


def _main(args: argparse.Namespace) -> int:
    import importlib

    if args.figure not in FIGURES:
        raise UserError(f"unknown figure {args.figure!r}; known: {', '.join(FIGURES)}")
    for path in importlib.import_module(FIGURES[args.figure]).draw(args.profile):
        print(path)
    return 0
