"""Runtime requests for a cluster scheduler, taken from the pipeline's own measurements.

Every train and evaluate job writes a Snakemake benchmark,
``results/<profile>/benchmarks/<family>/<rule>/<job>.tsv``, whose ``s`` column is its wall time
in seconds. A job's ``runtime`` resource (minutes: the SLURM executor's ``--time``) is
:data:`MARGIN` times the job's own last measurement where it ran before (a rerun, a job
restarted after preemption), else :data:`MARGIN` times the longest measured job of the same
rule, family and profile, at least :data:`MIN_MINUTES`; with nothing measured yet, the rule's
``default``. Each further attempt of a failed job doubles the request. Measurements are read
once per process and folder (a running workflow sees the ones from before it started).
"""

from __future__ import annotations

import csv
import math
from functools import cache
from pathlib import Path

MARGIN = 2.0  # a measured job may take up to twice as long on another node
MIN_MINUTES = 5  # below this a scheduler's start-up dominates


def measured_seconds(path: Path) -> float | None:
    """The wall seconds of a benchmark file's last row; None for a missing or unreadable one."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        value = float(rows[-1]["s"])
    except (OSError, KeyError, IndexError, ValueError, TypeError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


@cache
def _longest(folder: Path) -> float | None:
    found = [s for p in folder.rglob("*.tsv") if (s := measured_seconds(p)) is not None]
    return max(found, default=None)


def runtime_minutes(folder: Path, job: str, default: int, attempt: int = 1) -> int:
    """Minutes to request for ``job`` (its benchmark: ``folder / f"{job}.tsv"``)."""
    seconds = measured_seconds(folder / f"{job}.tsv")
    if seconds is None:
        seconds = _longest(Path(folder))
    minutes = default if seconds is None else max(MIN_MINUTES, math.ceil(MARGIN * seconds / 60))
    return minutes * 2 ** (max(attempt, 1) - 1)
