"""Raw files: a local mirror first, then the network; always checksummed, never half-written.

Lookup order for each :class:`~wheretolearn.data.registry.Source`: the copy already in the data
root, each mirror directory (``$WHERETOLEARN_MIRROR``, several separated by ``os.pathsep``; a
file may lie flat or under the source's subfolder), the install folder of a Debian or Python
package that ships the file, then each URL. A file is used only if its md5 (or, for a mirror
that recompressed it, the md5 of its gunzipped bytes) matches the registry. Downloads and copies
go to a temporary file of their own beside the target (``.<name>.<random>.part``: two jobs
fetching one file never write the same one) and are renamed only when complete and verified.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from wheretolearn.data.network import download_verified
from wheretolearn.data.registry import Source
from wheretolearn.data.verify import checksum_ok
from wheretolearn.errors import DatasetError
from wheretolearn.files import staged

log = logging.getLogger(__name__)

MIRROR_ENV = "WHERETOLEARN_MIRROR"


def mirror_dirs() -> list[Path]:
    """Mirror directories from ``$WHERETOLEARN_MIRROR`` (none when unset: network only)."""
    value = os.environ.get(MIRROR_ENV, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


@cache
def _debian_dirs(package: str) -> tuple[Path, ...]:
    try:
        out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    except OSError:
        return ()
    dirs = {Path(line).parent for line in out.stdout.splitlines() if line.endswith(".gz")}
    return tuple(sorted(dirs))


def _python_package_dir(info: dict[str, str]) -> Path | None:
    try:
        spec = importlib.util.find_spec(info["module"])
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / info.get("dir", "")


def local_candidates(source: Source) -> list[Path]:
    """Every local place the source's file may be, in lookup order."""
    found = []
    for mirror in mirror_dirs():
        found += [mirror / source.file, mirror / source.subdir / source.file]
    if source.debian_package:
        found += [d / source.file for d in _debian_dirs(source.debian_package)]
    if source.python_package:
        pkg_dir = _python_package_dir(source.python_package)
        if pkg_dir is not None:
            found.append(pkg_dir / source.file)
    return found


def searched_locations(source: Source) -> str:
    """Human-readable list of the local places searched, for error messages."""
    mirrors = [str(m) for m in mirror_dirs()] or [f"none (${MIRROR_ENV} is unset)"]
    extra = [str(p.parent) for p in local_candidates(source)[2 * len(mirror_dirs()) :]]
    return ", ".join(mirrors + extra)


def _atomic_copy(src: Path, dest: Path) -> None:
    with staged(dest) as part:
        shutil.copyfile(src, part)
        os.replace(part, dest)


def fetch(source: Source, dest_dir: Path, *, dataset: str, trust_unverified: bool = False) -> Path:
    """Return a verified copy of ``source`` in ``dest_dir``: root, mirror, package, network."""
    dest = Path(dest_dir) / source.file
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        if checksum_ok(dest, source, trust_unverified=trust_unverified):
            return dest
        log.warning("%s: %s fails its checksum; removing it and fetching again", dataset, dest)
        dest.unlink(missing_ok=True)
    corrupt = []
    for candidate in local_candidates(source):
        if not candidate.is_file():
            continue
        if checksum_ok(candidate, source, trust_unverified=trust_unverified):
            log.info("%s: using %s", dataset, candidate)
            _atomic_copy(candidate, dest)
            return dest
        corrupt.append(str(candidate))
    if corrupt:
        raise _corrupt_error(source, dataset, corrupt)
    return download_verified(
        source,
        dest,
        dataset=dataset,
        trust_unverified=trust_unverified,
        searched=searched_locations(source),
    )


def _corrupt_error(source: Source, dataset: str, paths: list[str]) -> DatasetError:
    expected = source.md5 or "unknown (unverified source; pass --trust-unverified to accept it)"
    return DatasetError(
        f"dataset {dataset!r}: {source.file} found at {', '.join(paths)} but its checksum does "
        f"not match (expected md5 {expected}); the file is corrupt, truncated or a different "
        f"version and was not used. Delete it and fetch it again from "
        f"{', '.join(source.urls) or 'the source named in registry.json'}."
    )
