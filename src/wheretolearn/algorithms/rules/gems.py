"""GEMS (Pimpalkhute et al., WACV 2023): which layers adapt, chosen per task by a small MLP.

Both rules group the adapted tensors into *layers* (the module a tensor belongs to: a conv's
weight and bias are one layer) and feed the MLP a cheap summary per layer: the log norm of its
weights and of its inner gradients (the paper gives the inputs only as "features of the task,
the weights and the gradients"; its supplement, with the exact inputs, is not available).

``bmp`` (Algorithm 1): at every inner step the adapter maps [the task's summary at theta, the
current step's summary, log(1 + k)] to a binary mask per layer (straight-through: forward
``1[o >= 0]``, backward ``sigmoid'``-free identity) and a task-specific rate ``alpha * 2
sigmoid(r)``. Its last layer starts at zero weights, with the mask biases at ``open_init``:
at the start every layer is open at rate ``alpha``, i.e. MAML.

``mmsup`` (Algorithm 2): per task, the MLP maps the task's summary at theta to a kept fraction
``k_l`` per layer (``sigmoid``; or a fixed ``keep``, Table 3 and 4's sparsities), and only the
top ``k_l`` of layer l's coordinates by weight magnitude adapt. The kept set is chosen by rank
(forward: ``rank >= 1 - k``); its backward to ``k`` is a sigmoid of the rank margin
(temperature ``tau``), straight-through.

MMSUP's outer update (Eq. 7, garbled in the paper: "averages the gradients over tasks for
``G_i - G'`` and for the shared ``G'``", G_i a task's subnet, G' the coordinates every
distribution shares) is read as: a task's meta-gradient reaches theta only through its subnet
G_i, so a coordinate is updated from the tasks that adapted it (all of them for G'), and one no
task adapted stays (edge-popup's frozen weights, which the paper cites). ``outer: subnet``
(default) does this: the task's first step starts from ``theta * m + sg(theta) * (1 - m)``,
the same values, the identity path of theta cut outside the subnet ``m``. The outer loss stays
the mean over the meta-batch, so the sum over the adapting tasks is divided by the batch size,
not by their count (Adam's per-coordinate normalisation takes most of that factor out).
``outer: all`` is MAML's outer update (every coordinate from every task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from wheretolearn.algorithms.rules._parts import straight_through
from wheretolearn.algorithms.rules.base import Modulation, Params, Task, UpdateRule, register
from wheretolearn.errors import ConfigError
from wheretolearn.validate import Count, Fraction, Positive


def layers_of(names: list[str]) -> dict[str, list[str]]:
    """The adapted tensors grouped by module (``conv1.weight``, ``conv1.bias`` -> ``conv1``)."""
    out: dict[str, list[str]] = {}
    for name in names:
        out.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return out


def summary(tensors: Params, layers: dict[str, list[str]]) -> torch.Tensor:
    """Per layer, the log of the L2 norm of its tensors (detached: the MLP's inputs)."""
    norms = [
        torch.sqrt(sum(tensors[n].detach().pow(2).sum() for n in names) + 1e-30)
        for names in layers.values()
    ]
    return torch.log(torch.stack(norms) + 1e-12)


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """A two-layer MLP whose output layer starts at zero weights (its biases set by the rule)."""
    net = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
    nn.init.zeros_(net[2].weight)
    nn.init.zeros_(net[2].bias)
    return net


@dataclass(frozen=True, kw_only=True)
class BMPOptions:
    alpha: Positive  # the rate at the start; the adapter scales it in (0, 2 alpha)
    hidden: Count  # the adapter's hidden width
    open_init: float  # the mask logits' start (> 0: every layer open, MAML at the start)


@register("bmp")
class BMP(UpdateRule):
    """Per inner step, a binary mask per layer and a task rate from the adapter (module doc)."""

    EXAMPLE = {"alpha": 0.1, "hidden": 8, "open_init": 1.0}
    Options = BMPOptions
    gated = True

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.layers = layers_of(self.adapted)
        count = len(self.layers)
        self.adapter = mlp(3 * count + 1, options.hidden, count + 1)
        with torch.no_grad():
            self.adapter[2].bias[:count].fill_(options.open_init)

    def begin(self, task: Task | None = None) -> Modulation:
        """The task's summary at theta (zeros without a task: the sparsity report's prior)."""
        count = len(self.layers)
        if task is None:
            return {"task": torch.zeros(2 * count)}
        theta = {n: task.theta[n] for n in self.adapted}
        return {"task": torch.cat([summary(theta, self.layers),
                                   summary(task.gradients(), self.layers)])}  # fmt: skip

    def gates(self, k: int, phi: Params, grads: Params, modulation: Modulation):
        """The per-layer binary mask (straight-through) and the step's rate."""
        step = torch.tensor([math.log1p(k)], dtype=modulation["task"].dtype)
        features = [modulation["task"].to(step.device), summary(grads, self.layers), step]
        out = self.adapter(torch.cat(features).to(self.adapter[0].weight.dtype))
        logits, rate = out[:-1], out[-1]
        mask = straight_through((logits >= 0).to(logits.dtype), logits, 1.0)
        return mask, self.options.alpha * 2 * torch.sigmoid(rate)

    def update(self, k: int, phi: Params, grads: Params, modulation: Modulation) -> Params:
        mask, rate = self.gates(k, phi, grads, modulation)
        nxt = dict(phi)
        for i, names in enumerate(self.layers.values()):
            for name in names:
                nxt[name] = phi[name] - rate * mask[i] * grads[name]
        return nxt

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Per tensor, whether the prior mask (no task, no gradient) closes its layer."""
        zeros = {n: torch.zeros(self.shapes[n]) for n in self.adapted}
        mask, _ = self.gates(0, zeros, zeros, self.begin())
        out = dict.fromkeys(self.shapes, 1.0)
        for i, names in enumerate(self.layers.values()):
            for name in names:
                out[name] = float(mask[i] == 0)
        return out


@dataclass(frozen=True, kw_only=True)
class MMSUPOptions:
    alpha: Positive  # the inner rate of the kept coordinates
    hidden: Count  # the MLP's hidden width
    keep_init: Fraction  # the learned fractions' start (the MLP's output bias: logit of it)
    keep: list[Fraction] | None = None  # fixed kept fractions (one, or one per layer): no MLP
    tau: Positive = 0.05  # temperature of the rank margin's sigmoid (the backward to k)
    outer: Literal["subnet", "all"] = "subnet"  # Eq. 7: theta updated through subnets only

    def __post_init__(self) -> None:
        if not 0 < self.keep_init < 1:
            raise ConfigError(f"method.keep_init: must be in (0, 1), got {self.keep_init}")


@register("mmsup")
class MMSUP(UpdateRule):
    """Only the top ``k_l`` of each layer's coordinates by weight magnitude adapt (module doc)."""

    EXAMPLE = {"alpha": 0.1, "hidden": 8, "keep_init": 0.5}
    Options = MMSUPOptions

    def __init__(self, params, head, options) -> None:
        super().__init__(params, head, options)
        self.layers = layers_of(self.adapted)
        count = len(self.layers)
        if options.keep is not None and len(options.keep) not in (1, count):
            raise ConfigError(
                f"method.keep: {len(options.keep)} fractions for {count} layers "
                f"({', '.join(self.layers)}); give one or one per layer"
            )
        self.scorer = None  # fixed fractions: nothing to meta-learn
        if options.keep is None:
            self.scorer = mlp(2 * count, options.hidden, count)
            with torch.no_grad():
                self.scorer[2].bias.fill_(math.log(options.keep_init / (1 - options.keep_init)))

    def fractions(self, task: Task | None, like: torch.Tensor) -> torch.Tensor:
        """The kept fraction of every layer for this task."""
        count = len(self.layers)
        if self.scorer is None:
            keep = self.options.keep * (count if len(self.options.keep) == 1 else 1)
            return torch.tensor(keep, dtype=like.dtype, device=like.device)
        if task is None:
            features = torch.zeros(2 * count, dtype=like.dtype, device=like.device)
        else:
            theta = {n: task.theta[n] for n in self.adapted}
            grads = task.gradients()
            features = torch.cat([summary(theta, self.layers), summary(grads, self.layers)])
        return torch.sigmoid(self.scorer(features.to(self.scorer[0].weight.dtype)))

    def begin(self, task: Task | None = None) -> Modulation:
        weights = task.theta if task is not None else None
        like = next(iter(weights.values())) if weights else torch.zeros(())
        keep = self.fractions(task, like)
        out: Modulation = {}
        for i, names in enumerate(self.layers.values()):
            magnitude = torch.cat([_weights(weights, self, n).detach().abs().flatten()
                                   for n in names])  # fmt: skip
            rank = _fractional_rank(magnitude)  # 0: smallest, towards 1: largest
            margin = rank - (1 - keep[i])
            soft = torch.sigmoid(margin / self.options.tau)
            mask = straight_through((margin >= 0).to(margin.dtype), soft, 1.0)
            for name, piece in zip(names, torch.split(mask, _sizes(self, names)), strict=True):
                out[name] = self.options.alpha * piece.view(self.shapes[name])
        return out

    def update(self, k: int, phi: Params, grads: Params, modulation: Modulation) -> Params:
        """The base step; with ``outer: subnet`` the first step starts from theta with its
        identity path cut outside the task's subnet (module doc: Eq. 7)."""
        if k == 0 and self.options.outer == "subnet":
            phi = dict(phi)
            for name in self.adapted:
                kept = (modulation[name].detach() != 0).to(phi[name].dtype)
                phi[name] = phi[name] * kept + phi[name].detach() * (1 - kept)
        return super().update(k, phi, grads, modulation)


def _weights(theta: Params | None, rule: UpdateRule, name: str) -> torch.Tensor:
    """A tensor's weights at the task's start (without a task: unit magnitudes, a fixed prior
    for the sparsity report, in which ties keep the first coordinates)."""
    if theta is not None:
        return theta[name]
    return torch.ones(rule.shapes[name])


def _sizes(rule: UpdateRule, names: list[str]) -> list[int]:
    return [torch.Size(rule.shapes[n]).numel() for n in names]


def _fractional_rank(values: torch.Tensor) -> torch.Tensor:
    """Each value's rank over the layer in [0, 1): ``i / n`` for the i-th smallest (stable)."""
    order = torch.argsort(values, stable=True)
    rank = torch.empty_like(values)
    rank[order] = torch.arange(values.numel(), dtype=values.dtype, device=values.device)
    return rank / values.numel()
