"""Gradient sharing (Chang & Lipson, arXiv 2312.08398): a wrapper over a base rule (MAML,
Meta-SGD, MAML++) that lets the tasks of a meta-batch, and the meta-batches before it, share
their inner-loop gradients.

At inner step ``k`` of a meta-batch of ``B`` tasks, per adapted tensor::

    gbar_k  = normalised mean of the B task gradients g_{i,k}
    G_k    <- (1 - sigmoid(m_k)) * G_k + sigmoid(m_k) * gbar_k     (a running mean, kept)
    D_{i,k} = (1 - sigmoid(l_k)) * g_{i,k} + sigmoid(l_k) * G_k

and the base rule steps task ``i`` with ``D_{i,k}`` in place of its gradient. ``m_k`` (the
momentum) and ``l_k`` (the share) are meta-learned. The source is a summary of the paper,
which leaves four things open; each is an option, and NOTES gives the defaults' reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import param_key
from wheretolearn.algorithms.rules.base import (
    RULES,
    Modulation,
    Params,
    Task,
    UpdateRule,
    method_options,
    register,
)
from wheretolearn.errors import ConfigError
from wheretolearn.validate import Count, resolved

NOTES = """\
normalise: each. "A normalized mean of task gradients": each task gradient is scaled to unit
  norm (per tensor) before the mean, so that no task's loss scale dominates the consensus
  direction; `mean` normalises the mean instead.
rescale: true. The normalised mean is multiplied by the mean of the task gradients' norms, so
  that D keeps the scale of a gradient and the base rule's rates (alpha 0.1) mean what they
  mean without sharing; false leaves it at unit norm.
detach_mean: false. The current meta-batch's mean stays in the graph: under second order a
  task's outer loss reaches the other tasks' inner gradients through it. The running mean of
  earlier meta-batches is a buffer and always detached (a truncated meta-gradient).
per_layer: false. The summary names m_k and l_k per inner step; true learns one per step and
  tensor.
Running means start at zero and take no bias correction; they are written after each
  training meta-batch only. A test (or validation) task is its own meta-batch of one: it
  mixes its own gradient into the stored running mean by the same formula, without writing it.
"""

_EPS = 1e-30  # inside the square root: no visible bias, a zero gradient stays finite


@dataclass(frozen=True, kw_only=True)
class SharingOptions:
    base: dict[str, Any]  # the wrapped rule's method section: {name: maml, alpha: 0.1}
    steps: Count  # inner steps with their own m_k, l_k and running mean: at least every K
    momentum_init: float  # m_k's start: sigmoid(m_k) is the new batch mean's weight
    share_init: float  # l_k's start: sigmoid(l_k) is the running mean's share of the step
    normalise: Literal["each", "mean"] = "each"
    rescale: bool = True
    detach_mean: bool = False
    per_layer: bool = False

    def __post_init__(self) -> None:
        cls, _ = RULES.select(self.base)
        if cls.cross_task:
            raise ConfigError(f"method.base: {self.base['name']} already shares across tasks")
        object.__setattr__(self, "base", resolved(self.base, method_options(self.base)))


@register("gradient-sharing")
class GradientSharing(UpdateRule):
    """The base rule's step on the task gradient interpolated with the running mean of the
    meta-batches' normalised mean gradients (module docstring)."""

    EXAMPLE = {"base": {"name": "maml", "alpha": 0.1}, "steps": 8, "momentum_init": 0.0,
               "share_init": 0.0}  # fmt: skip
    cross_task = True
    Options = SharingOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        cls, _ = RULES.select(options.base)
        self.base = cls(params, head, method_options(options.base))
        self.adapted = self.base.adapted
        self.per_step = self.base.per_step
        columns = len(self.adapted) if options.per_layer else 1
        shape = (options.steps, columns)
        self.momentum = nn.Parameter(torch.full(shape, float(options.momentum_init)))
        self.share = nn.Parameter(torch.full(shape, float(options.share_init)))
        for name in self.adapted:
            self.register_buffer(_mean_key(name), torch.zeros(options.steps, *params[name].shape))

    def begin(self, task: Task | None = None) -> Modulation:
        return self.base.begin(task)

    def running_mean(self, name: str) -> torch.Tensor:
        return getattr(self, _mean_key(name))

    def begin_batch(self, tasks: int) -> dict[int, Params]:
        return {}  # inner step -> the updated running means of this meta-batch

    def batch_update(self, k, phis, grads, modulations, state) -> list[Params]:
        if k >= self.options.steps:
            raise ValueError(
                f"gradient-sharing: inner step {k + 1} but {self.options.steps} steps of "
                "m, l and running means (method.steps must cover every inner-loop length)"
            )
        shared = [dict(g) for g in grads]
        state[k] = {}
        for j, name in enumerate(self.adapted):
            column = j if self.options.per_layer else 0
            mean = self.batch_mean([g[name] for g in grads])
            weight = torch.sigmoid(self.momentum[k, column])
            earlier = self.running_mean(name)[k].clone()  # end_batch overwrites the buffer
            running = (1 - weight) * earlier + weight * mean
            state[k][name] = running
            share = torch.sigmoid(self.share[k, column])
            for task in shared:
                task[name] = (1 - share) * task[name] + share * running
        return [
            self.base.update(k, p, g, m) for p, g, m in zip(phis, shared, modulations, strict=True)
        ]

    def batch_mean(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """The normalised mean of one tensor's task gradients (options ``normalise``,
        ``rescale``, ``detach_mean``)."""
        norms = [_norm(g) for g in grads]
        if self.options.normalise == "each":
            mean = torch.stack([g / n for g, n in zip(grads, norms, strict=True)]).mean(0)
        else:
            mean = torch.stack(grads).mean(0)
            mean = mean / _norm(mean)
        if self.options.rescale:
            mean = mean * torch.stack(norms).mean()
        return mean.detach() if self.options.detach_mean else mean

    def end_batch(self, state: dict[int, Params], *, training: bool) -> None:
        if not training:
            return
        with torch.no_grad():
            for k, means in state.items():
                for name, value in means.items():
                    self.running_mean(name)[k].copy_(value)

    def sparsity(self) -> dict[str, float]:
        return self.base.sparsity()


def _mean_key(name: str) -> str:
    return f"running_mean__{param_key(name)}"


def _norm(g: torch.Tensor) -> torch.Tensor:
    """The L2 norm, smooth at zero (a zero gradient gives a zero unit vector, not NaN)."""
    return (g.pow(2).sum() + _EPS).sqrt()
