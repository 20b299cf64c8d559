"""Update rules: ``phi_{k+1} = phi_k - U(g_k)``, each rule owning its meta-parameters.

A rule is an ``nn.Module`` whose parameters are its meta-parameters (mask logits, learning
rates, a generator's weights). :meth:`UpdateRule.begin` computes, once per task, the
modulation of every adapted tensor (differentiably in the meta-parameters);
:meth:`UpdateRule.step` applies one inner step to one tensor. Adding a method is one class
with an ``Options`` dataclass, registered under its name with :func:`register`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

Modulation = dict[str, torch.Tensor | float]

RULES: dict[str, type[UpdateRule]] = {}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    pass


class UpdateRule(nn.Module):
    """Base class: plain SGD with step ``alpha`` on every adapted tensor (MAML).

    Parameters
    ----------
    params:
        The model's named parameters (shapes and names of theta).
    head:
        Names of the output layer's parameters (for ANIL and BOIL).
    options:
        An instance of the rule's ``Options`` dataclass.
    """

    Options: ClassVar[type] = NoOptions
    #: the outer optimiser of the meta-parameters, when the rule has any
    has_meta_parameters: ClassVar[bool] = False

    def __init__(self, params: dict[str, torch.Tensor], head: set[str], options: Any) -> None:
        super().__init__()
        self.options = options
        self.adapted: list[str] = self.select(list(params), head)
        self.shapes = {name: tuple(p.shape) for name, p in params.items()}

    def select(self, names: list[str], head: set[str]) -> list[str]:
        """The names of the tensors adapted in the inner loop (default: all)."""
        return names

    def begin(self) -> Modulation:
        """Per-task modulation of each adapted tensor: a scalar or a tensor of its shape."""
        return {name: self.options.alpha for name in self.adapted}

    def step(
        self, k: int, name: str, phi: torch.Tensor, grad: torch.Tensor, modulation: Modulation
    ) -> torch.Tensor:
        """One inner step on one tensor: ``phi - modulation[name] * grad``."""
        return phi - modulation[name] * grad

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Per tensor, the fraction of coordinates whose inner-loop update is exactly zero."""
        modulation = self.begin()
        out = {}
        for name, shape in self.shapes.items():
            if name not in modulation:
                out[name] = 1.0
                continue
            value = torch.as_tensor(modulation[name]).detach()
            out[name] = float((value.expand(shape) == 0).float().mean())
        return out


def register(name: str) -> Callable[[type[UpdateRule]], type[UpdateRule]]:
    def wrap(cls: type[UpdateRule]) -> type[UpdateRule]:
        if name in RULES:
            raise ValueError(f"update rule {name!r} registered twice")
        RULES[name] = cls
        cls.rule_name = name
        return cls

    return wrap


def _lookup(method: dict[str, Any]) -> tuple[type[UpdateRule], dict[str, Any]]:
    from wheretolearn.algorithms.rules import (  # noqa: F401
        lamaml,
        maml,
        metasgd,
        sparse,
        sparse_plus,
    )
    from wheretolearn.config import lookup

    return lookup(RULES, method, "method", "method")


def method_options(method: dict[str, Any]) -> Any:
    """Validate the ``method`` section against the named rule's options; return them."""
    from wheretolearn.config import from_dict

    cls, rest = _lookup(method)
    return from_dict(cls.Options, rest, "method")


def build_rule(method: dict[str, Any], model: nn.Module, head: set[str]) -> UpdateRule:
    cls, _ = _lookup(method)
    params = dict(model.named_parameters())
    return cls(params, head, method_options(method))


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
