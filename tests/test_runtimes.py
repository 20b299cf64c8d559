"""Cluster runtime requests from measured benchmarks: the job's own, else its rule's longest,
else the default; twice the measurement, a floor, doubled per attempt; bad files ignored."""

from __future__ import annotations

from wheretolearn import runtimes
from wheretolearn.runtimes import measured_seconds, runtime_minutes

HEADER = "s\th:m:s\tmax_rss\n"


def bench(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t10.0\n")


def test_the_jobs_own_measurement_then_its_rules_longest_then_the_default(tmp_path):
    runtimes._longest.cache_clear()
    folder = tmp_path / "train"
    bench(folder / "maml" / "5shot-seed0.tsv", 1800.0)  # 30 min -> 60 min requested
    bench(folder / "maml" / "5shot-seed1.tsv", 4500.0)  # 75 min -> 150 min
    (folder / "anil").mkdir()
    (folder / "anil" / "5shot-seed0.tsv").write_text("garbage\n")  # unreadable: ignored
    assert runtime_minutes(folder, "maml/5shot-seed0", default=999) == 60
    assert runtime_minutes(folder, "anil/5shot-seed0", default=999) == 150  # rule's longest
    assert runtime_minutes(folder, "maml/5shot-seed0", default=999, attempt=2) == 120
    assert runtime_minutes(tmp_path / "evaluate", "x-seed0", default=120) == 120
    assert runtime_minutes(tmp_path / "evaluate", "x-seed0", default=120, attempt=3) == 480


def test_a_short_job_gets_the_floor_and_bad_files_read_as_unmeasured(tmp_path):
    runtimes._longest.cache_clear()
    bench(tmp_path / "a.tsv", 12.5)
    assert runtime_minutes(tmp_path, "a", default=60) == runtimes.MIN_MINUTES
    (tmp_path / "b.tsv").write_text(HEADER)  # header only
    (tmp_path / "c.tsv").write_text("s\nnan\n")
    assert measured_seconds(tmp_path / "b.tsv") is None
    assert measured_seconds(tmp_path / "c.tsv") is None
    assert measured_seconds(tmp_path / "missing.tsv") is None
    assert measured_seconds(tmp_path / "a.tsv") == 12.5
