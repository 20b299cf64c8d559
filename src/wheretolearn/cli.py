"""Command line: ``python -m wheretolearn <command> ...``.

Every command's flags are declared here; its implementation is imported only when it runs, as
``module:function``, so that ``--help`` and the light commands never import torch (a job's
start-up is part of every Snakemake job). Hyperparameters never come from flags: they come
from a params YAML (see the families' ``config`` modules); flags only say where things are.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

Parser = argparse.ArgumentParser


def _run(target: str) -> Callable[[argparse.Namespace], int]:
    """The command function ``module:function``, imported when called."""

    def run(args: argparse.Namespace) -> int:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)(args)

    run.target = target  # type: ignore[attr-defined]
    return run


def add_common_flags(parser: Parser) -> None:
    parser.add_argument(
        "--data-root",
        default=None,
        help="prepared datasets (default: $WHERETOLEARN_DATA or ./data)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one params key, e.g. train.epochs=2 (recorded in the run)",
    )


def add_run_flags(parser: Parser) -> None:
    """The flags of a command that trains one run into a (resumable) run folder."""
    parser.add_argument("--params", required=True, help="params YAML of the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    parser.add_argument(
        "--replace-stale",
        action="store_true",
        help="if --out holds a run of other parameters, move it aside and restart",
    )
    add_common_flags(parser)


def _family(parser: Parser) -> None:
    parser.add_argument(
        "--family",
        required=True,
        help="experiment family: fewshot, continual, online or a plug-in's (see experiments/)",
    )


def _runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one run of a family with one seed into a run folder")
    _family(p)
    add_run_flags(p)
    p.add_argument(
        "--init-from",
        default=None,
        metavar="DIR",
        help="few-shot second phase (train.init_from): the first phase's run folder",
    )
    p.set_defaults(func=_run("wheretolearn.stages:train"))
    p = sub.add_parser("evaluate", help="test a few-shot run's best checkpoint on a dataset")
    p.add_argument("--run", required=True, help="run folder written by `train`")
    p.add_argument("--dataset", default=None, help="target dataset (default: the training one)")
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="result JSON (default: in the run folder)")
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=_run("wheretolearn.experiments.fewshot.evaluate:main"))


def _data(sub: argparse._SubParsersAction) -> None:
    from wheretolearn.data import registry  # a JSON file: no torch

    parser = sub.add_parser("data", help="list, download and prepare datasets")
    data = parser.add_subparsers(dest="data_command", required=True)
    root_help = "data root (default: $WHERETOLEARN_DATA or ./data)"
    lister = data.add_parser("list", help="each dataset, its sources, and whether it is here")
    lister.add_argument("--root", help=root_help)
    lister.set_defaults(func=_run("wheretolearn.data.cli:run_list"))
    prep = data.add_parser("prepare", help="fetch (mirror first, then network) and prepare")
    prep.add_argument("names", nargs="+", metavar="NAME", choices=registry.names())
    prep.add_argument("--root", help=root_help)
    prep.add_argument("--force", action="store_true", help="prepare again even if verified")
    prep.add_argument(
        "--trust-unverified",
        action="store_true",
        help="accept raw files that have no trusted md5 in the registry (md5: null)",
    )
    prep.set_defaults(func=_run("wheretolearn.data.cli:run_prepare"))


def _pipeline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help="write one run's parameters from params/ and a profile")
    _family(p)
    p.add_argument(
        "--cell",
        required=True,
        help="the run: fewshot maml/1shot, continual rotations/la-maml, online c-maml/p0.98",
    )
    p.add_argument("--profile", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_run("wheretolearn.stages:compose"))
    for name, what in (("table", "aggregate a table's results beside the paper's values"),
                       ("figure", "draw a figure from results files")):  # fmt: skip
        p = sub.add_parser(name, help=what)
        p.add_argument(name)
        p.add_argument("--profile", required=True)
        p.set_defaults(func=_run(f"wheretolearn.stages:{name}"))
    p = sub.add_parser("table-page", help="a table's HTML page for the Snakemake report")
    for flag in ("--csv", "--md", "--profile", "--out"):
        p.add_argument(flag, required=True)
    p.set_defaults(func=_run("wheretolearn.report:table_page"))
    p = sub.add_parser("metrics", help="a family's table means as one JSON (for `dvc metrics`)")
    _family(p)
    p.add_argument("--profile", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_run("wheretolearn.stages:metrics_main"))
    p = sub.add_parser("pull", help="dvc pull a profile's cached artifacts; mark them current")
    p.add_argument("--profile", default="smoke")
    p.set_defaults(func=_run("wheretolearn.stages:pull"))


def build_parser() -> Parser:
    parser = Parser(prog="wheretolearn", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_runs, _data, _pipeline):
        add(sub)
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
