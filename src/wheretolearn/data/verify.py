"""Checksums: a file is used only if its md5 (or, for a mirror that recompressed it, the md5
of its gunzipped bytes) matches the registry."""

from __future__ import annotations

import gzip
import hashlib
import logging
from pathlib import Path

from wheretolearn.data.registry import Source

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def md5_of(path: Path, *, gunzip: bool = False) -> str:
    """md5 hex digest of a file, or of its decompressed bytes when ``gunzip``."""
    digest = hashlib.md5()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_ok(path: Path, source: Source, *, trust_unverified: bool = False) -> bool:
    """True if ``path`` has the source's md5 (or unpacked md5); see module doc for unverified."""
    if source.md5 is None:
        if not trust_unverified:
            return False
        log.warning("%s has no trusted md5; trusting it (md5 %s)", path, md5_of(path))
        return True
    if md5_of(path) == source.md5:
        return True
    if source.unpacked_md5 and path.suffix == ".gz":
        try:
            return md5_of(path, gunzip=True) == source.unpacked_md5
        except (OSError, EOFError, gzip.BadGzipFile):
            return False
    return False
