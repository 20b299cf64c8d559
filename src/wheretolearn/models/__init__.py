"""Backbones as plain ``nn.Module``s, called functionally with ``torch.func.functional_call``.

Every model's ``forward(x, context=None)`` returns logits for ``x``. ``context`` is the task's
support set: with non-transductive BatchNorm the query is normalised with statistics computed
on the support set only (Table S3); in the transductive setting (the papers' default) it is
ignored and every batch is normalised with its own statistics.

Each name is imported from its module on first use: validating a run's parameters imports
``models.config`` without torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "MLP": "mlp",
    "ConvNet": "mlp",
    "Conv4": "conv4",
    "ResNet12": "resnet12",
    "TaskBatchNorm2d": "norm",
    "build_model": "build",
    "head_names": "build",
    "build_continual_model": "build",
    "RESNET_CHANNELS": "build",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
