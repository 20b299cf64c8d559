"""Repairs that let torchmeta 1.8.0 and torchvision 0.28.0 run on a CPU-only torch 2.13.

Import this module before torchvision and torchmeta (``wheretolearn.data`` does so on import).
Each repair is idempotent and applied only when the defect is present:

(a) The torchvision 0.28.0 wheel from the package registry is a CUDA build; on a CPU-only torch
    its C extension does not load, so the ``torchvision::nms`` and ``torchvision::qnms`` operators
    are never defined and ``torchvision._meta_registrations`` fails on import with
    "operator torchvision::nms does not exist". We define the two operator schemas (no kernels:
    calling ``torchvision.ops.nms`` still raises torchvision's own "Couldn't load custom C++ ops").
(b) torchmeta imports ``_get_confirm_token`` and ``_save_response_content`` from
    ``torchvision.datasets.utils``, which torchvision removed. We restore both (copied from the
    torchvision revision torchmeta cites).
(c) torch 2.13's ``Subset.__init__`` refuses a subclass that overrides ``__getitem__`` without
    ``__getitems__``; torchmeta's ``SubsetTask`` does exactly that. We give it a
    ``__getitems__`` that delegates item by item to its ``__getitem__``.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

_TORCHVISION_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_libraries: list[torch.library.Library] = []  # keep the schema registrations alive
_applied = False


def _has_schema(name: str) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def _extension_loads() -> bool:
    """True if torchvision's compiled ops load on this torch (then no schema repair is needed)."""
    import importlib.util

    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.submodule_search_locations is None:
        return False
    from pathlib import Path

    for lib in Path(spec.submodule_search_locations[0]).glob("_C.*"):
        try:
            torch.ops.load_library(str(lib))
            return True
        except (OSError, RuntimeError):
            return False
    return False


def repair_torchvision_ops() -> bool:
    """Repair (a): define the torchvision operator schemas its meta registrations expect."""
    missing = [name for name in _TORCHVISION_OP_SCHEMAS if not _has_schema(name)]
    if not missing or _extension_loads():
        return False
    missing = [name for name in missing if not _has_schema(name)]
    if not missing:
        return False
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name in missing:
        lib.define(_TORCHVISION_OP_SCHEMAS[name])
    _libraries.append(lib)
    log.debug("defined torchvision op schemas without kernels: %s", missing)
    return True


def _get_confirm_token(response):
    for key, value in response.cookies.items():
        if key.startswith("download_warning"):
            return value
    return None


def _save_response_content(response, destination, chunk_size=32768):
    with open(destination, "wb") as f:
        for chunk in response.iter_content(chunk_size):
            if chunk:  # filter out keep-alive new chunks
                f.write(chunk)


def repair_torchvision_utils() -> bool:
    """Repair (b): restore the two helpers torchmeta imports from torchvision.datasets.utils."""
    import torchvision.datasets.utils as tv_utils

    changed = False
    for name, func in (
        ("_get_confirm_token", _get_confirm_token),
        ("_save_response_content", _save_response_content),
    ):
        if not hasattr(tv_utils, name):
            setattr(tv_utils, name, func)
            changed = True
    return changed


def repair_subset_task() -> bool:
    """Repair (c): give torchmeta's SubsetTask the ``__getitems__`` torch 2.13's Subset requires."""
    from torch.utils.data import Subset
    from torchmeta.utils.data.task import SubsetTask

    if SubsetTask.__getitems__ is not Subset.__getitems__:
        return False

    def __getitems__(self, indices):
        return [self[idx] for idx in indices]

    SubsetTask.__getitems__ = __getitems__
    return True


def apply() -> None:
    """Apply all repairs once; safe to call repeatedly."""
    global _applied
    if _applied:
        return
    repair_torchvision_ops()
    repair_torchvision_utils()
    repair_subset_task()
    _applied = True
