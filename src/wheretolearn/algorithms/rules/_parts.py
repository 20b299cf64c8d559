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


def check_rate_init(options) -> None:
    """Learned rates' start (Meta-SGD, sparse-ReLU-MAML): ``init: constant`` needs ``alpha``,
    ``init: uniform`` needs ``low < high``; refused naming the key."""
    from wheretolearn.errors import ConfigError

    if options.init == "constant" and options.alpha is None:
        raise ConfigError("missing key method.alpha (method.init is constant)")
    if options.init == "uniform":
        if options.low is None or options.high is None:
            raise ConfigError("missing key method.low or method.high (method.init is uniform)")
        if not options.low < options.high:
            raise ConfigError(
                f"method.low: must be < method.high, got {options.low} >= {options.high}"
            )


def rate_parameters(params: dict[str, torch.Tensor], names: list[str], options) -> nn.ParameterDict:
    """One learned rate tensor per adapted tensor: every element ``alpha`` (``init: constant``)
    or drawn from U[low, high] tensor after tensor, in ``names`` order (``init: uniform``)."""
    if options.init == "constant":
        return constant_parameters(params, names, options.alpha)
    rates = nn.ParameterDict()
    for name in names:
        value = torch.empty_like(params[name], requires_grad=False)
        nn.init.uniform_(value, options.low, options.high)
        rates[param_key(name)] = nn.Parameter(value)
    return rates


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
