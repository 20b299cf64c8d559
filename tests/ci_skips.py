"""pytest plugin: under CI, a skipped test is a failure (tests/conftest.py loads it).

With ``CI`` set in the environment (``.ci/run`` sets it), a test that would skip for want of
the offline data, a package or the repository fails instead: a CI run where the real-data tests
skip must not pass. Only tests marked ``gpu`` may skip there, since CI has no GPU.
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and item.get_closest_marker("gpu") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run it: {reason}"
