"""Start-up cost of the commands and of one smoke job, against a baseline revision: ``nox -s
startup``.

Every Snakemake job is a fresh ``python -m wheretolearn ...`` process, so the time a process
spends importing is paid once per job (the smoke few-shot pipeline runs about 170 of them). This
times, for the working tree and for a baseline revision checked out into a temporary git
worktree (default: ``0333d72``, before the lazy command imports), in the same environment and
interleaved:

* ``python -m wheretolearn evaluate --help``;
* the start-up of a smoke evaluation job: the same ``evaluate`` command on a run whose
  evaluation budget is one task of one inner step, so that what is timed is the process start,
  the imports, restoring the checkpoint and opening the data;
* one whole smoke evaluation job (a trained smoke run on held-out Omniglot: 60 tasks at
  K_test 10); each side evaluates runs trained with its own code;
* ``snakemake table4 -n --config profile=smoke`` (building the DAG).

Writes ``<out>/startup.json`` and ``<out>/startup.md``: the median over repeats of each and the
ratio ours / baseline (targets: at most 0.5 for the first two).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "0333d72"
RUN = ("maml", 1)  # the smoke run whose evaluation is timed


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall seconds of ``cmd``; raises with its output if it fails."""
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd}:\n{out.stdout}\n{out.stderr}")
    return elapsed


class Side:
    """A source tree (its ``src`` first on ``PYTHONPATH``) with a trained smoke run."""

    def __init__(self, name: str, tree: Path, work: Path, data: Path):
        self.name, self.tree, self.work, self.data = name, tree, work, data
        self.env = {
            **os.environ,
            "PYTHONPATH": str(tree / "src"),
            "WHERETOLEARN_DATA": str(data),
            "OMP_NUM_THREADS": "1",
        }

    def python(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "wheretolearn", *args]

    def families(self) -> bool:
        """Whether this tree's commands take ``--family`` (after the family structure)."""
        out = subprocess.run(self.python("train", "--help"), cwd=self.tree, env=self.env,
                             capture_output=True, text=True).stdout  # fmt: skip
        return "--family" in out

    def prepare(self) -> None:
        run, shots = RUN
        params = self.work / "params.yaml"
        if self.families():
            compose = ["compose", "--family", "fewshot", "--cell", f"{run}/{shots}shot"]
            train = ["train", "--family", "fewshot"]
        else:
            compose, train = ["compose", "--run", run, "--shots", str(shots)], ["train"]
        sh(self.python(*compose, "--profile", "smoke", "--out", str(params)), self.tree, self.env)
        train = [*train, "--params", str(params), "--data-root", str(self.data)]
        sh(self.python(*train, "--out", str(self.work / "run")), self.tree, self.env)
        minimal = ["train.epochs=1", "train.batches_per_epoch=1", "train.val_tasks=1"]
        minimal += ["eval.tasks=1", "eval.targets.omniglot-small=1"]
        sets = [arg for pair in minimal for arg in ("--set", pair)]
        out = ["--out", str(self.work / "minimal")]
        sh(self.python(*train, *out, *sets), self.tree, self.env)

    def evaluate(self, run: str) -> list[str]:
        evaluate = ["evaluate", "--run", str(self.work / run), "--dataset", "omniglot-small"]
        return self.python(*evaluate, "--out", str(self.work / f"{run}.json"))

    def commands(self) -> dict[str, list[str]]:
        return {
            "evaluate --help": self.python("evaluate", "--help"),
            "smoke evaluation job: start-up (1 task, 1 step)": self.evaluate("minimal"),
            "smoke evaluation job (60 tasks, K 10)": self.evaluate("run"),
            "snakemake table4 -n": [
                shutil.which("snakemake") or "snakemake",
                "table4",
                "-n",
                "--config",
                "profile=smoke",
                f"data_root={self.data}",
            ],
        }


def copy_tree(dest: Path) -> None:
    """The working tree as git sees it (tracked and untracked, not ignored) into ``dest``, so
    that both sides build their DAG on a tree without results."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / src.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / src.relative_to(ROOT))


def measure(sides: list[Side], repeats: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {s.name: {} for s in sides}
    for _ in range(repeats):
        for side in sides:  # interleaved: both sides see the same machine load
            for label, cmd in side.commands().items():
                times[side.name].setdefault(label, []).append(sh(cmd, side.tree, side.env))
    return times


def summarise(times, baseline: str) -> dict:
    rows = []
    for label in times["ours"]:
        ours = statistics.median(times["ours"][label])
        base = statistics.median(times["baseline"][label])
        rows.append({"what": label, "ours_s": ours, "baseline_s": base, "ratio": ours / base})
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "baseline": baseline,
        "repeats": len(next(iter(times["ours"].values()))),
        "cpus": os.cpu_count(),
        "rows": rows,
    }


def markdown(summary: dict) -> str:
    lines = [
        f"Start-up, {summary['when']}, baseline {summary['baseline']}, median of "
        f"{summary['repeats']}, {summary['cpus']} CPUs",
        "",
        "| what | ours | baseline | ours / baseline |",
        "|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['what']} | {r['ours_s']:.2f} s | {r['baseline_s']:.2f} s | {r['ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", default=BASELINE, help="git revision to compare against")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", default="results/bench")
    args = p.parse_args(argv)
    if "WHERETOLEARN_MIRROR" not in os.environ:
        sys.exit("set WHERETOLEARN_MIRROR to the offline data (the smoke run trains on Omniglot)")
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        tmp = Path(tmp)
        base_tree = tmp / "baseline"
        sh(["git", "worktree", "add", "--detach", str(base_tree), args.baseline], ROOT, os.environ)
        try:
            data = tmp / "data"
            prepare = ["data", "prepare", "omniglot-small", "--root", str(data)]
            env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
            sh([sys.executable, "-m", "wheretolearn", *prepare], ROOT, env)
            copy_tree(tmp / "tree")
            sides = [
                Side("ours", tmp / "tree", tmp / "ours", data),
                Side("baseline", base_tree, tmp / "base", data),
            ]
            for side in sides:
                side.work.mkdir()
                side.prepare()
            summary = summarise(measure(sides, args.repeats), args.baseline)
        finally:
            sh(["git", "worktree", "remove", "--force", str(base_tree)], ROOT, os.environ)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup.json").write_text(json.dumps(summary, indent=2))
    (out / "startup.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
