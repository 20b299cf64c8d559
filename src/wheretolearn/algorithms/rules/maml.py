"""MAML and the rules that freeze a fixed part of the network: ANIL (head only), BOIL (body only).

First- or second-order is a property of the loop (``train.first_order``), not of the rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from wheretolearn.algorithms.rules.base import UpdateRule, register
from wheretolearn.validate import Positive


@dataclass(frozen=True, kw_only=True)
class AlphaOptions:
    alpha: Positive  # inner-loop learning rate


@register("maml")
class MAML(UpdateRule):
    """``U(g) = alpha * g`` on every parameter."""

    EXAMPLE = {"alpha": 0.1}

    Options = AlphaOptions


@register("anil")
class ANIL(MAML):
    """``U(g) = alpha * g`` on the head only (Raghu et al. 2020)."""

    def select(self, names: list[str], head: set[str]) -> list[str]:
        return [n for n in names if n in head]


@register("boil")
class BOIL(MAML):
    """``U(g) = alpha * g`` on the body only; the head is not adapted (Oh et al. 2021)."""

    def select(self, names: list[str], head: set[str]) -> list[str]:
        return [n for n in names if n not in head]
