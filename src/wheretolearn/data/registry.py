"""The dataset registry: names, sources, checksums, sizes and normalisations, read from data.

Everything a dataset *is* lives in ``registry.json`` and ``splits/*.json`` next to this module,
so that a reader sees the URLs, md5s, class splits and the normalisation choice without reading
code. Variants (``variant_of``) share their base dataset's files and preparation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from wheretolearn.errors import DatasetError


@dataclass(frozen=True)
class Source:
    """One raw file of a dataset: where it comes from and how to verify it."""

    file: str
    subdir: str
    md5: str | None
    urls: tuple[str, ...] = ()
    unpacked_md5: str | None = None
    gdrive_id: str | None = None
    debian_package: str | None = None
    python_package: dict[str, str] | None = None
    md5_note: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry; ``base`` is the name whose prepared files this entry uses."""

    name: str
    base: str
    description: str
    preparer: str
    channels: int
    image_size: int
    normalisation: str
    splits: dict[str, int]
    sources: tuple[Source, ...]
    split_file: str | None = None
    rotations: tuple[int, ...] = ()
    rotate_splits: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("wheretolearn.data").joinpath("registry.json").read_text()
    return json.loads(text)


def names() -> list[str]:
    """All registered dataset names, in registry order."""
    return list(_raw()["datasets"])


def normalisation_stats(name: str) -> dict[str, list[float]] | None:
    """Mean/std of a normalisation name (None for "none"); DatasetError if unknown."""
    table = _raw()["normalisations"]
    if name not in table:
        raise DatasetError(f"unknown normalisation {name!r}; known: {', '.join(table)}")
    return table[name]


_SPEC_KEYS = {"description", "preparer", "channels", "image_size", "normalisation", "splits"}


@cache
def get(name: str) -> DatasetSpec:
    """The registry entry of ``name``; DatasetError listing the known names if absent."""
    table = _raw()["datasets"]
    if name not in table:
        raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(table)}")
    entry = dict(table[name])
    base = entry.pop("variant_of", name)
    merged = {**table[base], **entry} if base != name else entry
    sources = tuple(Source(**src) for src in merged.pop("sources"))
    known = {k: merged.pop(k) for k in list(merged) if k in _SPEC_KEYS}
    return DatasetSpec(
        name=name,
        base=base,
        sources=sources,
        split_file=merged.pop("split_file", None),
        rotations=tuple(merged.pop("rotations", ())),
        rotate_splits=tuple(merged.pop("rotate_splits", ())),
        extra=merged,
        **known,
    )


def load_split_file(spec: DatasetSpec) -> dict[str, Any]:
    """The pinned class split of a dataset (``splits/<file>.json`` in the package)."""
    if spec.split_file is None:
        raise DatasetError(f"dataset {spec.name!r} has no split file")
    text = resources.files("wheretolearn.data").joinpath("splits", spec.split_file).read_text()
    return json.loads(text)
