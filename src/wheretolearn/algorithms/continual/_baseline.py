"""What the baselines share: the adapted tensors' gradients, the rule's step, a replay buffer.

Every baseline takes its step from the update rule: a gradient ``g`` of tensor ``name`` becomes
``theta <- rule.step(0, name, theta, g, modulation)`` with ``modulation = rule.begin()``
(detached), for every tensor in ``rule.adapted``; so ``method: {name: maml, alpha: lr}`` is
plain SGD at rate ``lr``. Losses are the mean cross-entropy of the single-headed classifier;
every gradient (of a batch, of a task's memory, of one example) has its joint L2 norm clipped
to ``train.clip_norm`` before use (:func:`clip_norm_`), as ``torch.nn.utils.clip_grad_norm_``
does in the reference code after every ``backward``. Randomness comes from ``self.generator``
only. In multi-pass runs buffers are filled on the first pass over a task only
(``learner.first_visit``), as La-MAML's code does for its own buffer: a revisited example is
not a new sample of the stream.

Sources (read, not copied; the La-MAML repository montrealrobotics/La-MAML, which carries the
baselines of Riemer et al.'s MER repository and of GEM): see each learner's module.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wheretolearn.algorithms.continual.base import Learner, clip_norm_
from wheretolearn.algorithms.continual.memory import Reservoir
from wheretolearn.algorithms.inner_loop import inner_loss
from wheretolearn.algorithms.rules.base import Modulation


class Baseline(Learner):
    """Shared plumbing: gradients of the adapted tensors, and the rule's step."""

    def _params(self) -> list[tuple[str, nn.Parameter]]:
        params = dict(self.model.named_parameters())
        return [(name, params[name]) for name in self.rule.adapted]

    @torch.no_grad()
    def _modulation(self) -> Modulation:
        mod = self.rule.begin()
        return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in mod.items()}

    def _gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Mean cross-entropy on ``(x, y)`` and its clipped gradients (adapted tensors)."""
        named = self._params()
        with torch.enable_grad():
            loss = inner_loss(self.model, self.theta(), x, y)
            grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
        grads = [
            torch.zeros_like(p) if g is None else g for (_, p), g in zip(named, grads, strict=True)
        ]
        with torch.no_grad():
            clip_norm_(grads, self.train_cfg.clip_norm)
        return loss.detach(), grads

    @torch.no_grad()
    def _apply(self, grads: list[torch.Tensor], modulation: Modulation) -> None:
        """``theta <- rule.step(0, name, theta, g, modulation)`` for every adapted tensor."""
        for (name, p), g in zip(self._params(), grads, strict=True):
            p.copy_(self.rule.step(0, name, p, g, modulation))

    def _sgd_step(self, x: torch.Tensor, y: torch.Tensor, modulation: Modulation):
        loss, grads = self._gradients(x, y)
        self._apply(grads, modulation)
        return loss


class Replay(Baseline):
    """A learner with a reservoir of ``train.memories`` examples (ER, MER)."""

    def __init__(self, model, rule, options, train, generator) -> None:
        super().__init__(model, rule, options, train, generator)
        self.buffer = Reservoir(train.memories, generator)

    def _with_replay(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(x, y)`` followed by ``train.replay_batch_size`` distinct buffered examples."""
        n = self.train_cfg.replay_batch_size
        if n == 0 or len(self.buffer) == 0:
            return x, y
        rx, ry, _ = self.buffer.sample(n)
        return torch.cat([x, rx.to(x)]), torch.cat([y, ry.to(y)])

    def extra_state(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load_state(state["buffer"])
