"""C-MAML with update modulation and prolonged adaptation (C-MAML+UM+PAP), with any update rule.

One incoming batch ``B_t`` (the supplement's Algorithm 2, in the order of the authors' code,
``observe_accumulate``; notation of the sparse-MAML paper: theta slow weights, phi fast):

1. **Predict.** ``L_before = CE(phi(B_t))`` and its accuracy: the step's online score.
2. **Adapt.** ``inner_steps`` first-order steps of the rule on ``B_t``, from theta if the
   previous step detected a switch (or at step 0), else from phi (prolonged adaptation).
3. **Detect.** ``L_after = CE(phi_new(B_t))``; a switch when ``L_after + gamma <= L_before``
   (never at step 0: no task precedes it, as in the authors' code).
4. **Meta-update** if a switch was detected and the buffer is not empty, or the buffer holds
   more than ``full_buffer`` batches: the first ceil(n/2) buffered batches are supports, the
   rest queries, paired in order (one batch alone is its own query, as the authors'
   ``make_batch`` does); each support is adapted from theta by the rule, and the mean query
   cross-entropy is backpropagated to theta and the rule's meta-parameters, which their two
   optimisers step. The buffer is then emptied and ``B_t`` is *not* buffered.
5. Otherwise ``B_t`` joins the buffer. ``phi <- phi_new``.

Only the rule differs between C-MAML (``tensor-lr``), C-MAML-fixed (``maml``), sparse-C-MAML
(``sparse-maml``) and sparse-ReLU-C-MAML (``sparse-relu-maml``); see ``NOTES`` in
:mod:`wheretolearn.algorithms.online` for every choice where the paper and the code differ.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from wheretolearn.algorithms.inner_loop import adapt, adapt_detached
from wheretolearn.algorithms.online.metrics import detect_switch
from wheretolearn.algorithms.rules.base import UpdateRule
from wheretolearn.errors import DivergenceError
from wheretolearn.validate import Count, NonNegative, Positive

Params = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class OnlineOptions:
    inner_steps: Count  # the authors' num_steps (16 in their best configurations)
    gamma: Positive  # switch-detection threshold on the loss drop (cl_tbd_thres)
    full_buffer: Count = 100  # forced meta-update above this many buffered batches (2 * 50)
    first_order: bool = True  # the meta-update's inner loop (their best configs: first order)
    um_lambda: NonNegative | None = None  # UM weight 1 - exp(-lambda L); None: off (NOTES)
    gate_theta: bool = False  # zero theta's meta-gradient where the rule's step is 0 (NOTES)


@dataclass(frozen=True)
class StepRecord:
    accuracy: float  # before adaptation, a fraction: the online score
    loss_before: float
    loss_after: float
    detected: bool
    updated: bool  # a meta-update was taken at this step


def outer_pairs(batches: list[Batch]) -> list[tuple[Batch, Batch]]:
    """(support, query) pairs of the meta-update: the first ceil(n/2) batches with the rest,
    index by index; a single batch is paired with itself (the authors' ``make_batch``)."""
    if not batches:
        raise ValueError("a meta-update needs at least one buffered batch")
    if len(batches) == 1:
        return [(batches[0], batches[0])]
    half = math.ceil(len(batches) / 2)
    return list(zip(batches[:half], batches[half:], strict=False))


@torch.no_grad()
def score(model: nn.Module, phi: Params, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """The cross-entropy and the accuracy (a fraction) of the weights ``phi`` on a batch."""
    logits = functional_call(model, phi, (x,))
    correct = int((logits.argmax(-1) == y).sum())
    return float(F.cross_entropy(logits, y)), correct / len(y)


def fast_weights(model: nn.Module, phi: Params | None) -> Params:
    """The adapted tensors ``phi`` over theta's current values for the others (theta itself
    where nothing is adapted yet), detached."""
    theta = {n: p.detach() for n, p in model.named_parameters()}
    return theta if phi is None else {**theta, **phi}


class OnlineCMAML:
    """The C-MAML loop over one stream; :meth:`observe` takes one step.

    Parameters
    ----------
    model:
        The network; its parameters are theta.
    rule:
        The inner update, built on the tensors adapted in the inner loop (see
        :func:`wheretolearn.algorithms.online.online_rule`).
    options:
        :class:`OnlineOptions`.
    theta_opt, meta_opt:
        The optimisers of theta (every model parameter) and of the rule's meta-parameters
        (None for a rule without any, or to freeze them).
    """

    def __init__(self, model: nn.Module, rule: UpdateRule, options: OnlineOptions,
                 theta_opt: torch.optim.Optimizer,
                 meta_opt: torch.optim.Optimizer | None = None) -> None:  # fmt: skip
        self.model, self.rule, self.options = model, rule, options
        self.theta_opt, self.meta_opt = theta_opt, meta_opt
        self.phi: Params | None = None  # the adapted tensors of the fast weights
        self.restart = True  # the next adaptation starts from theta
        self.buffer: list[Batch] = []
        self.seen = 0

    def fast_weights(self) -> Params:
        """phi: the adapted tensors' fast weights, theta's current values for the others."""
        return fast_weights(self.model, self.phi)

    def observe(self, x: torch.Tensor, y: torch.Tensor) -> StepRecord:
        """One step of the stream (see the module docstring)."""
        phi = self.fast_weights()
        loss_before, accuracy = score(self.model, phi, x, y)
        origin = dict(self.model.named_parameters()) if self.restart else phi
        steps = self.options.inner_steps
        new = adapt_detached(self.model, self.rule, origin, x, y, steps)
        loss_after, _ = score(self.model, new, x, y)
        if not (math.isfinite(loss_before) and math.isfinite(loss_after)):
            raise DivergenceError(
                f"{self.rule.rule_name}: non-finite loss ({loss_before}, {loss_after}) at "
                f"stream step {self.seen}; lower the inner step (alpha) or the meta learning rates"
            )
        detected = self.seen > 0 and detect_switch(loss_before, loss_after, self.options.gamma)
        updated = (detected and bool(self.buffer)) or len(self.buffer) > self.options.full_buffer
        if updated:
            self.meta_update(self.buffer)
            self.buffer = []
        else:
            self.buffer.append((x, y))
        self.phi = {n: new[n].detach() for n in self.rule.adapted}
        self.restart, self.seen = detected, self.seen + 1
        return StepRecord(accuracy, loss_before, loss_after, detected, updated)

    def meta_update(self, batches: list[Batch]) -> float:
        """One outer step of theta and the rule's meta-parameters on ``batches``; the mean
        query loss (before any UM weight)."""
        pairs = outer_pairs(batches)
        optimisers = [o for o in (self.theta_opt, self.meta_opt) if o is not None]
        for opt in optimisers:
            opt.zero_grad(set_to_none=True)
        theta = dict(self.model.named_parameters())
        total = 0.0
        for (sx, sy), (qx, qy) in pairs:
            phi = adapt(self.model, self.rule, theta, sx, sy, self.options.inner_steps,
                        first_order=self.options.first_order)  # fmt: skip
            loss = F.cross_entropy(functional_call(self.model, phi, (qx,)), qy) / len(pairs)
            loss.backward()
            total += loss.detach().item()
        if not math.isfinite(total):
            raise DivergenceError(
                f"{self.rule.rule_name}: non-finite meta-loss ({total}) at stream step "
                f"{self.seen}; lower the meta learning rates or the inner step"
            )
        self._modulate_gradients(total)
        for opt in optimisers:
            opt.step()
        return total

    @torch.no_grad()
    def _modulate_gradients(self, loss: float) -> None:
        """UM's weight ``1 - exp(-lambda L)`` on every meta-gradient (the authors' weight on the
        loss, L detached) and, with ``gate_theta``, theta's gradient zeroed where the rule's
        step is 0."""
        params = list(self.model.parameters()) + list(self.rule.parameters())
        if self.options.um_lambda is not None:
            weight = 1.0 - math.exp(-self.options.um_lambda * loss)
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(weight)
        if self.options.gate_theta:
            theta = dict(self.model.named_parameters())
            modulation = self.rule.begin()
            for name in self.rule.adapted:
                if theta[name].grad is not None:
                    open_ = torch.as_tensor(modulation[name]).detach() != 0
                    theta[name].grad.mul_(open_.to(theta[name].grad.dtype))

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs (copies: later steps do not change it)."""
        return copy.deepcopy({
            "model": self.model.state_dict(), "rule": self.rule.state_dict(),
            "theta_opt": self.theta_opt.state_dict(),
            "meta_opt": None if self.meta_opt is None else self.meta_opt.state_dict(),
            "phi": self.phi, "restart": self.restart, "seen": self.seen,
            "buffer": [[x, y] for x, y in self.buffer],
        })  # fmt: skip

    def load_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.rule.load_state_dict(state["rule"])
        self.theta_opt.load_state_dict(state["theta_opt"])
        if (state["meta_opt"] is None) != (self.meta_opt is None):
            raise ValueError("the checkpoint and this run disagree on having a meta optimiser")
        if self.meta_opt is not None:
            self.meta_opt.load_state_dict(state["meta_opt"])
        device = next(self.model.parameters()).device  # a checkpoint loads onto the CPU
        phi = state["phi"]
        self.phi = None if phi is None else {n: t.to(device) for n, t in phi.items()}
        self.restart, self.seen = state["restart"], state["seen"]
        self.buffer = [(x.to(device), y.to(device)) for x, y in state["buffer"]]
