"""Command line: ``python -m wheretolearn <command> ...``.

Each command lives in its own module and registers itself through a ``register(subparsers)``
function, so this file stays a thin dispatcher. Hyperparameters never come from flags: they come
from a params YAML (see :mod:`wheretolearn.config`); flags only say where things are.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = (
    "wheretolearn.train",
    "wheretolearn.continual",
    "wheretolearn.evaluate",
    "wheretolearn.data.cli",
    "wheretolearn.tables",
    "wheretolearn.continual_pipeline",
    "wheretolearn.figures",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wheretolearn", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from wheretolearn.allocator import tune_allocator
    from wheretolearn.errors import UserError

    try:
        tune_allocator()  # CPU runs: no page fault per activation buffer (see allocator.py)
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
