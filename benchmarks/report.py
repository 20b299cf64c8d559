"""The summary's Markdown table and the projected wall time of the paper-profile table4."""

from __future__ import annotations

# params/fewshot.yaml and params/tables.yaml (paper profile): 6 methods x 2 shots x 5 seeds;
# 400 epochs of 100 meta-batches at K=35; 300 validation tasks at K=100 every 5 epochs; 300
# test tasks at K=100 on miniImageNet and the 3 cross-domain targets.
TABLE4 = {"runs": 60, "meta_batches": 400 * 100, "val_tasks": 80 * 300, "test_tasks": 4 * 300}


def projected_table4(rows: dict) -> dict | None:
    """Hours for table4 from the measured rates (a-K35 per meta-batch, c-eval per task).

    Approximations, stated: every run costs what the 5-shot meta-batch of (a) costs (1-shot
    runs use 4 tasks of 5 + 75 images instead of 2 of 25 + 75), sparse-MAML+'s 600 epochs are
    counted as 400, and every evaluation task costs what (c) measured."""
    if "a-K35" not in rows or "c-eval" not in rows:
        return None
    out = {"assumptions": " ".join(projected_table4.__doc__.split())}
    for side in ("ours", "reference"):
        train = TABLE4["meta_batches"] * rows["a-K35"][f"{side}_s"]
        task = rows["c-eval"][f"{side}_per_task_s"]
        evaluation = (TABLE4["val_tasks"] + TABLE4["test_tasks"]) * task
        out[f"{side}_hours_per_run"] = (train + evaluation) / 3600
        out[f"{side}_hours_table4"] = TABLE4["runs"] * (train + evaluation) / 3600
    return out


def _fmt_s(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _allocator(env: dict) -> str:
    if env.get("tcmalloc"):
        return "tcmalloc (LD_PRELOAD)"
    if env.get("host_allocator") == "glibc-tuned":
        return "glibc, tuned as wheretolearn's commands tune it"
    return "glibc defaults"


def markdown_table(summary: dict) -> str:
    env = summary["environment"]
    lines = [
        f"Measured {env['date']} on {env['device']} ({env['cpu_cores']} cores), torch "
        f"{env['torch']}, {env['threads']} threads, host allocator: {_allocator(env)} (the same "
        "on both sides).",
        "",
        "| case | what | K | tasks | ours | reference | speed-up | ours in convolutions "
        "| bound | peak memory ours / ref |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in summary["cases"].items():
        mem = f"{r['ours_peak_mib']:.0f} / {r['reference_peak_mib']:.0f} MiB"
        lines.append(
            f"| {name} | {r['what']} | {r['K']} | {r['tasks']} | {_fmt_s(r['ours_s'])} | "
            f"{_fmt_s(r['reference_s'])} | {r['ratio']:.2f}x | "
            f"{_fmt_s(r['ours_convolution_s'])} | {r['ratio_bound']:.2f}x | {mem} |"
        )
        if "note" in r:
            lines.append(
                f"| | {r['note']}: ours {r['ours_300_tasks_s'] / 3600:.2f} h, reference "
                f"{r['reference_300_tasks_s'] / 3600:.2f} h | | | | | | | | |"
            )
    proj = summary.get("projection")
    if proj:
        lines += [
            "",
            f"Projected paper-profile table4 on this device: ours {proj['ours_hours_table4']:.0f} "
            f"h, reference {proj['reference_hours_table4']:.0f} h (60 runs).",
        ]
    lines += variants_table(summary)
    lines += [
        "",
        "ours in convolutions: the part of one run of ours spent in convolution forward and "
        "backward calls (profiled); bound: reference / that, the speed-up an exact engine "
        "calling the same convolutions could reach if everything else cost nothing.",
        "",
        f"float64 agreement: {summary['float64_check']}",
        "",
    ]
    return "\n".join(lines)


def variants_table(summary: dict) -> list[str]:
    """Ours under each engine plan variant (``--variants``), the fastest marked."""
    variants = summary.get("variants")
    if not variants:
        return []
    names = list(dict.fromkeys(n for times in variants.values() for n in times))
    lines = [
        "",
        "Ours under each engine plan variant (median seconds; * the fastest):",
        "",
        "| case | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for case, times in variants.items():
        best = min(times, key=times.get)
        cells = [
            (_fmt_s(times[n]) + (" *" if n == best else "")) if n in times else "-" for n in names
        ]
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return lines
