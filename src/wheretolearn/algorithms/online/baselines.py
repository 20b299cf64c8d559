"""The online baselines without a switch detector: online Adam (the C-MAML authors'
``online_sgd``), fine-tuning from a pre-trained theta, and MAML or ANIL pre-trained, then never
retrained (their ``MAML`` and ``ANIL`` with ``cl_strategy never_retrain``).

:class:`OnlineSupervised`, one incoming batch ``B_t`` (the authors' ``observe`` with
``no_cl_meta_learning`` and ``cl_strategy always_retrain``: the fast weights are theta itself):

1. **Predict.** ``L_before = CE(theta(B_t))`` and its accuracy: the step's online score.
2. **Learn.** ``steps`` optimiser steps of theta on ``CE(theta(B_t))`` (their one Adam step at
   ``meta_lr``).

It has no update rule (``rule`` None): its trace and sparsity are empty.

:class:`OnlinePretrained`, one incoming batch ``B_t`` (their ``observe`` with ``cl_strategy
never_retrain``), theta fixed (pre-trained before the stream, see
:mod:`~wheretolearn.algorithms.online.pretrain`):

1. **Predict.** ``L_before = CE(phi(B_t))`` and its accuracy, ``phi`` adapted from theta on
   ``B_{t-1}`` (at step 0, theta itself: the authors score it 0, see ``NOTES['first_step']``).
2. **Adapt.** ``phi <- adapt(theta, B_t)``: ``inner_steps`` steps of the rule (MAML: every
   tensor; ANIL: the head), always from theta: no prolonged adaptation.

Neither buffers a batch nor detects a switch (their ``cl_tbd_thres -1``).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from wheretolearn.algorithms.inner_loop import adapt_detached
from wheretolearn.algorithms.online.learner import Params, StepRecord, fast_weights, score
from wheretolearn.algorithms.rules.base import UpdateRule
from wheretolearn.errors import DivergenceError


class OnlineSupervised:
    """Theta learned by ``optimizer`` on every batch after it is scored; :meth:`observe`."""

    rule = None

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, steps: int) -> None:
        if steps < 1:
            raise ValueError(f"steps: {steps} must be at least 1")
        self.model, self.optimizer, self.steps = model, optimizer, steps
        self.seen = 0

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> StepRecord:
        for step in range(self.steps):
            self.optimizer.zero_grad(set_to_none=True)
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            if step == 0:  # the prediction before any step on B_t: the score
                loss_before = loss.item()
                accuracy = int((logits.detach().argmax(-1) == y).sum()) / len(y)
            if not math.isfinite(loss.item()):
                raise DivergenceError(
                    f"online baseline: non-finite loss ({loss.item()}) at stream step "
                    f"{self.seen}; lower train.theta_optimizer.lr"
                )
            loss.backward()
            self.optimizer.step()
        self.seen += 1
        return StepRecord(accuracy, loss_before, math.nan, False, True)

    def state(self) -> dict[str, Any]:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        return copy.deepcopy({**state, "seen": self.seen})

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.seen = state["seen"]


class OnlinePretrained:
    """A pre-trained theta that is never updated: each batch is scored by the fast weights
    adapted from theta on the batch before, then adapted on; :meth:`observe`.

    Parameters
    ----------
    model:
        The network; its parameters are theta (pre-trained before the stream, never stepped).
    rule:
        The inner update (``maml``, ``anil``: see
        :func:`wheretolearn.algorithms.online.online_rule`), the one theta was pre-trained with.
    inner_steps:
        Its steps on each batch.
    """

    def __init__(self, model: nn.Module, rule: UpdateRule, inner_steps: int) -> None:
        if inner_steps < 1:
            raise ValueError(f"inner_steps: {inner_steps} must be at least 1")
        self.model, self.rule, self.inner_steps = model, rule, inner_steps
        self.phi: Params | None = None  # the adapted tensors, from theta on the last batch
        self.seen = 0

    def fast_weights(self) -> Params:
        """phi: the adapted tensors' fast weights, theta for the others (theta at step 0)."""
        return fast_weights(self.model, self.phi)

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> StepRecord:
        loss_before, accuracy = score(self.model, self.fast_weights(), x, y)
        if not math.isfinite(loss_before):
            raise DivergenceError(
                f"{self.rule.rule_name}: non-finite loss ({loss_before}) at stream step "
                f"{self.seen}; lower the inner step (method.alpha)"
            )
        theta = dict(self.model.named_parameters())
        new = adapt_detached(self.model, self.rule, theta, x, y, self.inner_steps)
        self.phi = {n: new[n].detach() for n in self.rule.adapted}
        self.seen += 1
        return StepRecord(accuracy, loss_before, math.nan, False, False)

    def state(self) -> dict[str, Any]:
        """theta (pre-trained: a resumed run does not pre-train again), phi and the count."""
        return copy.deepcopy({"model": self.model.state_dict(), "rule": self.rule.state_dict(),
                              "phi": self.phi, "seen": self.seen})  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.rule.load_state_dict(state["rule"])
        device = next(self.model.parameters()).device  # a checkpoint loads onto the CPU
        phi = state["phi"]
        self.phi = None if phi is None else {n: t.to(device) for n, t in phi.items()}
        self.seen = state["seen"]
