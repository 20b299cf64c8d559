"""The CPU allocator settings: big buffers are reused instead of faulted in afresh."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wheretolearn import allocator
from wheretolearn.errors import UserError

PROBE = """
import ctypes, resource
from wheretolearn.allocator import tune_allocator
mode = tune_allocator()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size = 64 << 20  # above glibc's largest default mmap threshold (32 MiB), like an activation
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    libc.memset(block, 1, size)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(mode, sum(faults[1:]))
"""


def probe(setting: str) -> tuple[str, int]:
    env = {**os.environ, allocator.ENV: setting}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(allocator._glibc() is None, reason="glibc only")
def test_tuned_allocator_reuses_big_buffers_instead_of_faulting_them_in():
    mode, faults = probe("tuned")
    default_mode, default_faults = probe("default")
    assert (mode, default_mode) == ("glibc-tuned", "default")
    pages = 3 * (64 << 20) // 4096  # every page of the last three blocks, faulted in afresh
    assert default_faults > pages // 2, default_faults  # glibc: mmap and unmap each time
    assert faults < pages // 100, faults  # tuned: the freed heap block is reused


def test_unknown_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv(allocator.ENV, "jemalloc")
    with pytest.raises(UserError, match="WHERETOLEARN_MALLOC='jemalloc'"):
        allocator.tune_allocator()
