"""Under CI a skip is a failure (tests/ci_skips.py); elsewhere it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SAMPLE = """
import pytest

def test_needs_data():
    pytest.skip("no data mirror")

@pytest.mark.gpu
def test_needs_a_gpu():
    pytest.skip("no CUDA device")
"""


def run_sample(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(Path(__file__).parent)
    if ci:
        env["CI"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "ci_skips", "-p", "no:cacheprovider"]
    cmd += ["-rA", str(tmp_path)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_skip_fails_under_ci_except_gpu_tests(tmp_path):
    out = run_sample(tmp_path, ci=True)
    assert out.returncode == 1, out.stdout
    assert "1 failed" in out.stdout and "1 skipped" in out.stdout
    assert "skipped under CI, which must run it" in out.stdout


def test_a_skip_stays_a_skip_elsewhere(tmp_path):
    out = run_sample(tmp_path, ci=False)
    assert out.returncode == 0, out.stdout
    assert "2 skipped" in out.stdout
