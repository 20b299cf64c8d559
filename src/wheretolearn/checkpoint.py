"""Checkpoints written atomically and loaded without executing code.

A checkpoint holds only tensors, numbers, strings, lists and dicts, so ``torch.load`` runs with
``weights_only=True``. It is written to a temporary file in the same folder, flushed to disk
and renamed over the old one: a job killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from wheretolearn.errors import UserError
from wheretolearn.files import write_atomic, write_text_atomic

__all__ = ["load", "save_atomic", "write_text_atomic"]


def save_atomic(state: dict[str, Any], path: Path) -> None:
    """Write a checkpoint atomically (see :mod:`wheretolearn.files`)."""
    write_atomic(path, lambda fh: torch.save(state, fh))


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist; train the run first") from None
    except Exception as err:  # a truncated or foreign file: say which, never execute it
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"checkpoint {path} cannot be read safely (a truncated, corrupt or foreign file: "
            f"{first}); delete it and re-run training to regenerate it"
        ) from err
