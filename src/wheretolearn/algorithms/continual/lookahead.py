"""La-MAML's online meta-learning loop (Gupta et al. 2020), with any update rule.

One incoming batch B of ``b`` examples, repeated for ``glances`` passes, each pass:

1. a replay batch R is drawn from the memory (from the past tasks' memory once a task has
   ended; see ``replay``) and joined with B;
2. starting from ``phi_0 = theta``, one first-order inner step per example of B (in a fresh
   random order): ``phi_{k+1} = phi_k - U(g_k)``, with U the rule (``relu(alpha) * g`` for
   La-MAML, ``alpha_0 * 1[m >= 0] * g`` for sparse-La-MAML);
3. the meta-loss is the cross-entropy on B u R, at every ``phi_k`` averaged over k (the authors'
   code; ``meta_loss: last`` uses ``phi_b`` only, as the paper's Eq. 8 and Algorithm 1 write);
4. the meta-parameters take one SGD step of ``meta_lr`` on their (norm-clipped) gradient, then
   theta takes ``theta - U_new(g_theta)`` with the *updated* modulation (learning rates first,
   weights second), its gradient norm-clipped too;
5. on the first pass of the first epoch, the examples of B enter the reservoir as they are
   seen.

With the ``la-maml`` rule this is La-MAML; with ``sparse-maml`` it is Algorithm 1 of the
supplement (sparse-La-MAML): the straight-through mask gradient is ``-alpha_0 g_out * sum g_in``
and the mask is also applied to theta's update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from wheretolearn.algorithms.continual.base import Learner, clip_norm_, register
from wheretolearn.algorithms.continual.memory import Reservoir
from wheretolearn.algorithms.inner_loop import (
    apply_rule,
    inner_loss,
    inner_step,
    task_gradients,
)
from wheretolearn.validate import Count, NonNegative, Positive


@dataclass(frozen=True, kw_only=True)
class LookaheadOptions:
    meta_lr: NonNegative  # meta-parameters' SGD step (La-MAML's lr; gamma_m); 0: frozen
    glances: Count  # passes over each incoming batch
    meta_loss: Literal["all-steps", "last"] = "all-steps"
    # past-tasks: after the first task, replay only from the memory as it was at the task
    # boundary (the intent of the authors' use_old_task_memory flag, which an alias disabled);
    # all: replay from the live reservoir, current task included
    replay: Literal["past-tasks", "all"] = "past-tasks"
    inner_clamp: Positive | None = None  # elementwise clamp of inner gradients (authors: no-op)


@register("lookahead")
class Lookahead(Learner):
    """La-MAML's outer loop. See the module docstring for one iteration."""

    Options = LookaheadOptions

    def __init__(self, model, rule, options, train, generator) -> None:
        super().__init__(model, rule, options, train, generator)
        self.memory = Reservoir(train.memories, generator)
        self.past = Reservoir(train.memories, generator)
        self.current_task = 0

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        if task != self.current_task:
            self.past = self.memory.copy()
            self.current_task = task
        loss = 0.0
        for glance in range(self.options.glances):
            order = torch.randperm(len(x), generator=self.generator).to(x.device)
            loss = self._glance(x[order], y[order], task, remember=glance == 0)
        return loss

    def _replay_batch(self, x: torch.Tensor, y: torch.Tensor, task: int):
        source = self.past if (task > 0 and self.options.replay == "past-tasks") else self.memory
        if len(source) == 0 or self.train_cfg.replay_batch_size == 0:
            return x, y
        rx, ry, _ = source.sample(self.train_cfg.replay_batch_size)
        return torch.cat([rx.to(x), x]), torch.cat([ry.to(y), y])

    def _glance(self, x: torch.Tensor, y: torch.Tensor, task: int, *, remember: bool) -> float:
        bx, by = self._replay_batch(x, y, task)
        theta = self.theta()
        modulation = self.rule.begin()
        phi, losses = dict(theta), []
        for k in range(len(x)):
            phi = self._inner(phi, x[k : k + 1], y[k : k + 1], k, modulation)
            if remember and self.first_visit:
                self.memory.add(x[k : k + 1], y[k : k + 1], task)
            if self.options.meta_loss == "all-steps" or k == len(x) - 1:
                losses.append(inner_loss(self.model, phi, bx, by))
        meta_loss = torch.stack(losses).mean()
        self._outer_step(meta_loss, theta)
        return float(meta_loss.detach())

    def _inner(self, phi, x, y, k, modulation):
        if self.options.inner_clamp is None:
            return inner_step(self.model, self.rule, phi, x, y, k, modulation, first_order=True)
        grads = task_gradients(self.model, phi, x, y, self.rule.adapted)
        c = self.options.inner_clamp
        grads = {n: g.detach().clamp(-c, c) for n, g in grads.items()}
        return apply_rule(self.rule, phi, grads, k, modulation)

    def _outer_step(self, meta_loss: torch.Tensor, theta: dict[str, torch.Tensor]) -> None:
        names = list(theta)
        metas = [p for p in self.rule.parameters() if p.requires_grad]
        grads = _grads(meta_loss, [theta[n] for n in names] + metas)
        g_theta, g_meta = grads[: len(names)], grads[len(names) :]
        clip = self.train_cfg.clip_norm
        with torch.no_grad():
            clip_norm_(g_theta, clip)
            clip_norm_(g_meta, clip)
            for p, g in zip(metas, g_meta, strict=True):
                p.sub_(self.options.meta_lr * g)
            modulation = self.rule.begin()
            g_by_name = dict(zip(names, g_theta, strict=True))
            for name in self.rule.adapted:
                new = self.rule.step(0, name, theta[name], g_by_name[name], modulation)
                theta[name].copy_(new)

    def extra_state(self) -> dict:
        return {
            "memory": self.memory.state(),
            "past": self.past.state(),
            "current_task": self.current_task,
        }

    def load_extra_state(self, state: dict) -> None:
        self.memory.load_state(state["memory"])
        self.past.load_state(state["past"])
        self.current_task = state["current_task"]


def _grads(loss: torch.Tensor, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of ``loss``; zeros for tensors it does not depend on."""
    grads = torch.autograd.grad(loss, tensors, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads, strict=True)]
