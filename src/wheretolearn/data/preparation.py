"""Download (mirror first) and prepare a dataset into the data root.

Each registry entry names a *preparer*, a function registered with :func:`preparer` that turns
the verified raw files into torchmeta-format split files (see :mod:`wheretolearn.data.store`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from wheretolearn.data import registry, store
from wheretolearn.data.download import fetch
from wheretolearn.errors import DatasetError
from wheretolearn.registry import Registry

log = logging.getLogger(__name__)

DATA_ENV = "WHERETOLEARN_DATA"
Preparer = Callable[[registry.DatasetSpec, dict[str, Path], Path], None]
PREPARERS: Registry[Preparer] = Registry("preparer", "wheretolearn.data.preparers", "preparer")


def preparer(name: str) -> Callable[[Preparer], Preparer]:
    """Register a preparer: ``fn(spec, raw_files_by_name, out_folder)`` writes the splits."""
    return PREPARERS.register(name)


def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root: ``root`` if given, else ``$WHERETOLEARN_DATA``, else ``./data``."""
    if root is None:
        root = os.environ.get(DATA_ENV) or "data"
    return Path(root).expanduser()


def prepared_folder(name: str, root: str | os.PathLike | None) -> Path:
    """Where the prepared files of ``name`` (or of its base dataset) live."""
    return resolve_root(root) / registry.get(name).base


def problems(name: str, root: str | os.PathLike | None) -> list[str]:
    """[] if ``name`` is prepared under ``root`` and unmodified, else what is wrong."""
    return store.problems(prepared_folder(name, root))


def fetch_raw(name: str, root: str | os.PathLike | None, *, trust_unverified: bool = False):
    """Verified raw files of a dataset, fetched into ``<root>/raw/<subdir>/``."""
    spec = registry.get(name)
    raw_root = resolve_root(root) / "raw"
    return {
        src.file: fetch(src, raw_root / src.subdir, dataset=name, trust_unverified=trust_unverified)
        for src in spec.sources
    }


def prepare(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    trust_unverified: bool = False,
    force: bool = False,
) -> Path:
    """Fetch (mirror, then network) and prepare ``name``; returns the prepared folder. One
    process at a time per dataset and root: another waits, then finds it prepared."""
    spec = registry.get(registry.get(name).base)
    root = resolve_root(root)
    with store.locked(root, spec.name):
        folder = root / spec.name
        if not force and not store.problems(folder):
            log.info("%s is already prepared in %s", spec.name, folder)
            return folder
        raw = fetch_raw(spec.name, root, trust_unverified=trust_unverified)
        tmp = store.begin(root, spec.name)
        try:
            PREPARERS.get(spec.preparer)(spec, raw, tmp)
            info = {"image_size": spec.image_size, "channels": spec.channels}
            store.write_manifest(tmp, spec.name, info)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        folder = store.commit(tmp, root, spec.name)
    log.info("prepared %s in %s", spec.name, folder)
    return folder


def require_prepared(name: str, root, *, download: bool = False) -> Path:
    """The prepared folder of ``name``; prepares it if ``download``, else DatasetError."""
    folder = prepared_folder(name, root)
    issues = store.problems(folder)
    if not issues:
        return folder
    if download:
        return prepare(name, root)
    raise DatasetError(
        f"dataset {name!r} is not prepared under {resolve_root(root)}: {'; '.join(issues)}. "
        f"Run `python -m wheretolearn data prepare {registry.get(name).base} --root "
        f"{resolve_root(root)}` (it looks in $WHERETOLEARN_MIRROR first); from Python, "
        "episode_loader(..., download=True) prepares it."
    )
