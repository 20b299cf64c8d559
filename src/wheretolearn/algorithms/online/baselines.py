"""The online baselines that learn without meta-learning: online Adam (the C-MAML authors'
``online_sgd``) and, from a pre-trained theta, fine-tuning.

One incoming batch ``B_t`` (the authors' ``observe`` with ``no_cl_meta_learning`` and
``cl_strategy always_retrain``: the fast weights are theta itself, no switch detection):

1. **Predict.** ``L_before = CE(theta(B_t))`` and its accuracy: the step's online score.
2. **Learn.** ``steps`` optimiser steps of theta on ``CE(theta(B_t))`` (their one Adam step at
   ``meta_lr``).

Nothing is buffered and no switch is detected (their ``cl_tbd_thres -1``). The learner has no
update rule (``rule`` None): its trace and sparsity are empty.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from wheretolearn.algorithms.online.learner import StepRecord
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
