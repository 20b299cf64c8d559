"""Checkpoints written atomically and loaded without executing code.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so ``torch.load`` runs with
``weights_only=True``. It is written to a temporary file in the same folder, flushed to disk
and renamed over the old one: a job killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from wheretolearn.errors import UserError


def save_atomic(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist; train the run first") from None
    except Exception as err:  # a truncated or foreign file: say which, never execute it
        raise UserError(
            f"checkpoint {path} cannot be read safely ({err}); delete it and "
            "re-run training to regenerate it"
        ) from err
