"""Continual learners: the base class, their registry and the continual loop's settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn
from torch.func import functional_call

from wheretolearn.algorithms.continual.config import ContinualTrainConfig
from wheretolearn.algorithms.rules.base import UpdateRule
from wheretolearn.registry import Registry

LEARNERS: Registry[type[Learner]] = Registry(
    "learner", "wheretolearn.algorithms.continual", "learner.name"
)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    pass


class Learner(nn.Module):
    """Base class of continual learners.

    Parameters
    ----------
    model:
        The network; its parameters are theta, updated in place by :meth:`observe`.
    rule:
        The update rule; its modulation (``rule.begin()``) scales every step.
    options:
        The learner's ``Options`` instance (from the params file's ``learner`` section).
    train:
        Batch size, replay buffer size, clipping: the run's ``train`` section.
    generator:
        The only source of randomness a learner may use (replay sampling, shuffling), so a
        run is a pure function of its seed.
    """

    Options: ClassVar[type] = NoOptions
    learner_name: ClassVar[str] = ""

    def __init__(
        self,
        model: nn.Module,
        rule: UpdateRule,
        options: Any,
        train: ContinualTrainConfig,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.model = model
        self.rule = rule
        self.options = options
        self.train_cfg = train
        self.generator = generator
        #: False on the second and later epochs over a task (multi-pass): examples are not new,
        #: so replay memories are not updated. Set by the stream loop.
        self.first_visit = True

    def theta(self) -> dict[str, torch.Tensor]:
        return dict(self.model.named_parameters())

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        """Learn from one incoming batch of task ``task``; return a loss for logging."""
        raise NotImplementedError

    def end_task(self, task: int) -> None:  # noqa: B027 - optional hook
        """Called once after the last batch of ``task`` (all epochs)."""

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, self.theta(), (x,))

    def sparsity(self) -> dict[str, float]:
        """Per tensor, the fraction of coordinates the rule currently never updates."""
        return self.rule.sparsity()

    def extra_state(self) -> dict[str, Any]:
        """State outside ``state_dict()`` (replay buffers, optimiser moments) for resuming."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        pass


def register(name: str) -> Callable[[type[Learner]], type[Learner]]:
    """Class decorator: the learner ``name`` of params files' ``learner.name``."""
    return LEARNERS.decorator(name, "learner_name")


def learner_options(learner: dict[str, Any]) -> Any:
    """Validate the ``learner`` section against the named learner's options; return them."""
    return LEARNERS.options(learner)


def build_learner(
    learner: dict[str, Any],
    model: nn.Module,
    rule: UpdateRule,
    train: ContinualTrainConfig,
    generator: torch.Generator,
) -> Learner:
    cls, _ = LEARNERS.select(learner)
    return cls(model, rule, learner_options(learner), train, generator)


def clip_norm_(grads: list[torch.Tensor], max_norm: float | None) -> None:
    """Scale the gradient tensors ``grads`` in place so that their joint L2 norm is at most
    ``max_norm`` (as PyTorch's ``clip_grad_norm_``: factor ``max_norm / (norm + 1e-6)``)."""
    if max_norm is None or not grads:
        return
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    factor = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(factor)
