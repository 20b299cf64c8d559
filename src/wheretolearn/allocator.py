"""Host memory allocator settings for CPU training processes.

With glibc's defaults, every activation buffer above the (dynamic, at most 32 MiB) mmap
threshold is a fresh ``mmap`` that is faulted in page by page and unmapped again when freed:
on the paper's 84x84 setting that is about 3 million page faults per meta-training iteration,
and about 45% of its time on a 2-core CPU (benchmarks/README.md). Raising the mmap threshold
above the largest activation keeps those buffers in the heap, where freed memory is reused;
a trim threshold keeps the heap from being returned to the kernel after every step. Numbers
do not change (it is where memory comes from, not what is computed); the process's peak
resident memory grows (heap fragmentation: 1.3 GiB to 2.9 GiB at 84x84, meta-batch 2).

``WHERETOLEARN_MALLOC=default`` keeps glibc's behaviour. Other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

from wheretolearn.errors import UserError

log = logging.getLogger(__name__)

ENV = "WHERETOLEARN_MALLOC"
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30  # above any single activation buffer of the paper's models
TRIM_THRESHOLD = 128 << 20  # measured: as fast as never trimming, same peak memory

_applied: str | None = None


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (only glibc has it)
    except (OSError, AttributeError):
        return None
    return libc


def tune_allocator() -> str:
    """Apply the settings once per process; returns what is in effect (the benchmark records
    it): ``"glibc-tuned"``, ``"default"`` (asked for by ``WHERETOLEARN_MALLOC=default``, or
    refused by mallopt) or ``"not glibc"``."""
    global _applied
    if _applied is not None:
        return _applied
    choice = os.environ.get(ENV, "tuned").strip().lower()
    if choice not in {"tuned", "default"}:
        raise UserError(f"{ENV}={choice!r}: expected 'tuned' or 'default' (or leave it unset)")
    if choice == "default":
        _applied = "default"
    elif (libc := _glibc()) is None:
        _applied = "not glibc"
    else:
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
        _applied = "glibc-tuned" if ok else "default"
        if not ok:
            log.warning("mallopt refused the allocator settings; glibc defaults stay")
    log.debug("host allocator: %s", _applied)
    return _applied
