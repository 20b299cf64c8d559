"""Online continual learning: learners that take a stream of incoming batches.

A learner is the outer loop of a continual method; the update rule it carries (the same
plug-ins as the few-shot core, :mod:`wheretolearn.algorithms.rules`) says how a gradient becomes
a step. ``lookahead`` is La-MAML's online meta-learning loop: with the ``la-maml`` rule
(rectified learned rates) it is La-MAML, with ``sparse-maml`` (binary mask, fixed alpha_0) it is
sparse-La-MAML. The baselines (``sgd``, ``er``, ``gem``, ``mer``) take their step size from the
rule's modulation, so ``method: {name: maml, alpha: lr}`` is plain SGD at rate ``lr``.

Adding a learner is one class with an ``Options`` dataclass, registered with :func:`register`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn
from torch.func import functional_call

from wheretolearn.algorithms.rules import UpdateRule
from wheretolearn.config import ContinualTrainConfig

LEARNERS: dict[str, type[Learner]] = {}


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
    def wrap(cls: type[Learner]) -> type[Learner]:
        if name in LEARNERS:
            raise ValueError(f"learner {name!r} registered twice")
        LEARNERS[name] = cls
        cls.learner_name = name
        return cls

    return wrap


def _lookup(learner: dict[str, Any]) -> tuple[type[Learner], dict[str, Any]]:
    from wheretolearn.algorithms.continual import baselines, lookahead  # noqa: F401
    from wheretolearn.config import lookup

    return lookup(LEARNERS, learner, "learner", "learner")


def learner_options(learner: dict[str, Any]) -> Any:
    """Validate the ``learner`` section against the named learner's options; return them."""
    from wheretolearn.config import from_dict

    cls, rest = _lookup(learner)
    return from_dict(cls.Options, rest, "learner")


def build_learner(
    learner: dict[str, Any],
    model: nn.Module,
    rule: UpdateRule,
    train: ContinualTrainConfig,
    generator: torch.Generator,
) -> Learner:
    cls, _ = _lookup(learner)
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
