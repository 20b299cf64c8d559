"""A memo of the composed parameters that passed validation, so that building the DAG again
does not validate (and import torch for the rules' options) again.

Validation is a pure function of the composed mapping and of this package's code, so a
mapping that passed once with the same code passes again. The Snakefile enables the memo
(``enable``) for its own process, and ``compose`` (its jobs) reads the same one; each key is
the sha256 of the package's code digest, the kind of mapping and the mapping itself. A
mapping that fails is never recorded, so ``snakemake -n`` refuses a bad value every time; a
training validates its parameters in full.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
_memo: dict[str, Any] = {"path": None, "keys": None}


@cache
def code_digest() -> str:
    """sha256 of every source and data file of the package (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json", ".yaml") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def enable(path: Path) -> None:
    """Remember validated mappings in ``path`` (one key per line)."""
    _memo["path"], _memo["keys"] = Path(path), None


def _keys() -> set[str]:
    if _memo["keys"] is None:
        path = _memo["path"]
        _memo["keys"] = set(path.read_text().split()) if path.is_file() else set()
    return _memo["keys"]


def check_once(kind: str, params: dict[str, Any], validate: Callable[[dict], Any]) -> None:
    """``validate(params)``, unless the memo holds this mapping as validated by this code."""
    if _memo["path"] is None:
        validate(params)
        return
    text = json.dumps(params, sort_keys=True, default=str)
    key = hashlib.sha256(f"{code_digest()}\0{kind}\0{text}".encode()).hexdigest()[:32]
    if key in _keys():
        return
    validate(params)
    _keys().add(key)
    path = _memo["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:  # one short line per append: concurrent writers do not mix
        fh.write(key + os.linesep)
