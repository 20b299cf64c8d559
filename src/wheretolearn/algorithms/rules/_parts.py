"""Pieces several rules share: meta-parameter dictionaries, straight-through masks, the
authors' mask initialisation."""

from __future__ import annotations

import torch
from torch import nn


def param_key(name: str) -> str:
    """A model parameter's name as an ``nn.ParameterDict`` key (which may not contain dots)."""
    return name.replace(".", "__")


def constant_parameters(
    params: dict[str, torch.Tensor], names: list[str], value: float
) -> nn.ParameterDict:
    """One meta-parameter tensor per adapted tensor, shaped like it, every element ``value``."""
    return nn.ParameterDict(
        {
            param_key(n): nn.Parameter(torch.full_like(params[n], value, requires_grad=False))
            for n in names
        }
    )


def straight_through(value: torch.Tensor, logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Forward ``value``, backward ``scale`` times the identity with respect to ``logits``."""
    return value.detach() + scale * (logits - logits.detach())


def init_mask_logits(like: torch.Tensor, shift: float) -> torch.Tensor:
    """The authors' mask initialisation: Kaiming-uniform for tensors with more than one
    dimension, U(-0.5, 0.5) otherwise; then centred to zero mean and shifted by ``shift``
    (0 gives about 50% initial sparsity, larger values less)."""
    m = torch.empty_like(like, requires_grad=False)
    if m.dim() > 1:
        nn.init.kaiming_uniform_(m)
    else:
        nn.init.uniform_(m, -0.5, 0.5)
    return m - m.mean() + shift
