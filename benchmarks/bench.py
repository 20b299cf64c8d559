"""Time our engine against the authors' algorithm, side by side: ``nox -s bench``.

Each case is timed in one process, ours and the reference interleaved, after warm-up, as a
median over repeats; peak memory is measured for each case and side in a fresh subprocess.
Writes ``<out>/summary.json`` and ``<out>/summary.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases as C  # noqa: E402
from report import markdown_table, projected_table4  # noqa: E402

from wheretolearn.algorithms.engine import plan_for, resolve_device, using_plan  # noqa: E402
from wheretolearn.allocator import ENV as ALLOCATOR_ENV  # noqa: E402
from wheretolearn.allocator import tune_allocator  # noqa: E402

log = logging.getLogger("bench")
SIDES = {"ours": C.ours, "reference": C.reference}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cases", nargs="*", help="case names (default: all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--full", action="store_true", help="GPU values: 300 eval tasks, K=35 ...")
    p.add_argument("--repeats", type=int, help="timed repeats (default 3; --full 10)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--eval-tasks", type=int, help="tasks timed in (c) (default 2; --full 300)")
    p.add_argument("--resnet-steps", type=int, help="K timed in (d) (default 4; --full 35)")
    p.add_argument(
        "--allocator",
        choices=["tuned", "default"],
        default="tuned",
        help="host allocator for both sides: the settings wheretolearn's commands apply on CPU "
        "(tuned, default) or glibc's own (see src/wheretolearn/allocator.py)",
    )
    p.add_argument(
        "--variants",
        action="store_true",
        help="also time ours under each engine plan variant (VARIANTS), to choose the "
        "device's plan by measurement",
    )
    p.add_argument("--out", type=Path, default=Path("results/bench"))
    p.add_argument("--worker", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    full = args.full or resolve_device(args.device).type == "cuda"
    args.repeats = args.repeats or (10 if full else 3)
    args.eval_tasks = args.eval_tasks or (300 if full else 2)
    args.resnet_steps = args.resnet_steps or (35 if full else 4)
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, ctx, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn(ctx)
    sync(device)
    return time.perf_counter() - start


def time_case(case, device, repeats: int, warmup: int) -> dict[str, list[float]]:
    """Both sides on the same tensors, interleaved, after ``warmup`` untimed runs each (of one
    task and at most 5 steps: the same shapes, without the cost of a full case)."""
    short = C.build(dataclasses.replace(case, steps=min(case.steps, 5), tasks=1), device=device)
    for _ in range(warmup):  # same shapes per task: oneDNN primitives, allocator, caches
        for fn in SIDES.values():
            timed(fn, short, device)
    ctx = C.build(case, torch.float32, device)
    times = {side: [] for side in SIDES}
    for i in range(repeats * case.repeat_factor):
        for side, fn in SIDES.items():
            times[side].append(timed(fn, ctx, device))
            log.info("%s %s run %d: %.2f s", case.name, side, i, times[side][-1])
    return times


# The engine's strategies (EnginePlan fields) a device's plan chooses among; --variants times
# ours under each one, so a new device's entry in PLANS is chosen by measurement.
VARIANTS = {
    name: {
        "channels_last": last,
        "vmap_meta_batch": vmap,
        "eval_tasks_at_once": group,
        "compile_mode": compiled,
    }
    for name, last, vmap, group, compiled in (
        ("loop, channels-last", True, False, 1, None),
        ("loop, NCHW", False, False, 1, None),
        ("vmap, 50 eval tasks", False, True, 50, None),
        ("loop, compiled steps", True, False, 1, "default"),
        ("loop, CUDA graphs", False, False, 1, "reduce-overhead"),
    )
}
GPU_ONLY = {"loop, CUDA graphs"}


def time_variants(case, device, repeats: int) -> dict[str, float]:
    """Median seconds of ours under each of VARIANTS (after one untimed run each, which
    compiles where the variant compiles)."""
    ctx = C.build(case, torch.float32, device)
    out = {}
    for name, fields in VARIANTS.items():
        if name in GPU_ONLY and device.type != "cuda":
            continue
        with using_plan(device, dataclasses.replace(plan_for(device), **fields)):
            timed(C.ours, ctx, device)
            out[name] = statistics.median(timed(C.ours, ctx, device) for _ in range(repeats))
        log.info("%s variant %s: %.3f s", case.name, name, out[name])
    return out


CONVOLUTION_OPS = ("aten::convolution", "aten::convolution_backward")


def convolution_seconds(case, device) -> float:
    """Seconds of one run of ours spent inside convolutions, forward and backward (profiled:
    CPU time on a CPU, device time on a GPU). A lower bound on any exact float32 engine that
    calls the same convolution library, so ``reference / this`` bounds the reachable ratio."""
    from torch.profiler import ProfilerActivity, profile

    ctx = C.build(case, torch.float32, device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        C.ours(ctx)
        sync(device)
    field = "device_time_total" if device.type == "cuda" else "cpu_time_total"
    events = [e for e in prof.key_averages() if e.key in CONVOLUTION_OPS]
    return sum(getattr(e, field) for e in events) / 1e6


def peak_memory_worker(case, side: str, device) -> float:
    """MiB above the after-setup level: CUDA allocator peak, or the process's max RSS."""
    if case.kind == "eval":
        case = dataclasses.replace(case, tasks=1)  # per-task memory is flat in the task count
    ctx = C.build(case, torch.float32, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        SIDES[side](ctx)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    base = peak_rss_kib()
    SIDES[side](ctx)
    return (peak_rss_kib() - base) / 1024


def peak_rss_kib() -> int:
    """The process's peak resident set (VmHWM): unlike ``getrusage``'s ``ru_maxrss``, which
    Linux carries over from the parent across ``execve``, it starts afresh in a new process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory(case_name: str, side: str, argv: list[str]) -> float:
    cmd = [sys.executable, __file__, *argv, "--worker", case_name, side]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def environment(device) -> dict:
    preload = os.environ.get("LD_PRELOAD", "")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tcmalloc": "tcmalloc" in preload,
        "allocator": preload or "default (glibc malloc on CPU)",
        "engine_plan": vars(plan_for(device)),
    }


def summarise(case, times, memory, convolutions: float) -> dict:
    ours, ref = statistics.median(times["ours"]), statistics.median(times["reference"])
    row = {
        "what": case.what, "K": case.steps, "tasks": case.tasks, "repeats": len(times["ours"]),
        "ours_s": ours, "reference_s": ref, "ratio": ref / ours,
        "ours_peak_mib": memory["ours"], "reference_peak_mib": memory["reference"],
        "all_ours_s": times["ours"], "all_reference_s": times["reference"],
        "ours_convolution_s": convolutions, "ratio_bound": ref / convolutions,
    }  # fmt: skip
    if case.kind == "eval":
        row["ours_per_task_s"], row["reference_per_task_s"] = ours / case.tasks, ref / case.tasks
        row["ours_300_tasks_s"], row["reference_300_tasks_s"] = (
            300 * ours / case.tasks,
            (300 * ref / case.tasks),
        )
        row["note"] = f"{case.tasks} tasks timed; 300-task times extrapolated from the rate"
    return row


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    os.environ[ALLOCATOR_ENV] = args.allocator  # both sides, and the memory workers
    allocator = tune_allocator()
    device = resolve_device(args.device)
    all_cases = C.cases(args.eval_tasks, args.resnet_steps)
    if args.worker:
        print(peak_memory_worker(all_cases[args.worker[0]], args.worker[1], device))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    env = {**environment(device), "host_allocator": allocator}
    summary = {"environment": env, "float64_check": C.float64_check()}
    log.info("float64 check: %s", summary["float64_check"])
    summary["cases"] = {}
    for name in args.cases or list(all_cases):
        case = all_cases[name]
        times = time_case(case, device, args.repeats, args.warmup)
        memory = {side: peak_memory(name, side, argv) for side in SIDES}
        convolutions = convolution_seconds(case, device)
        summary["cases"][name] = summarise(case, times, memory, convolutions)
        if args.variants:
            summary.setdefault("variants", {})[name] = time_variants(case, device, args.repeats)
        log.info("%s: %s", name, json.dumps(summary["cases"][name]))
    summary["projection"] = projected_table4(summary["cases"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "summary.md").write_text(markdown_table(summary))
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
