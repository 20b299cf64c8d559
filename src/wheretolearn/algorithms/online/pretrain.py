"""Pre-training of theta before the stream, for the baselines that start from a meta-trained
theta: MAML (or any rule's meta-learning) on ``ways``-way tasks from one pool of classes. The
C-MAML authors' ``fine_tuning`` pre-trains with MAML's one inner step of 0.05, then learns the
stream with online Adam; their ``MAML`` and ``ANIL`` pre-train with the stream's own rule (ANIL:
the head alone adapted) and 16 inner steps, then never update theta again.

A task draws ``ways`` classes of the pool in random order (the ``j``-th gets label ``j``) and,
per class, ``shots`` support and ``queries`` query images without replacement. A meta-batch
of ``tasks`` tasks is one outer step of the online learner's own meta-update
(:meth:`~wheretolearn.algorithms.online.learner.OnlineCMAML.meta_update`: each support adapted
from theta by the rule ``method`` names, the mean query loss stepped by Adam on every
parameter of theta). Seeded by ``seed`` alone; the authors' early stopping on held-out classes
is replaced by a fixed number of meta-batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wheretolearn.algorithms.online import online_rule
from wheretolearn.algorithms.online.learner import OnlineCMAML, OnlineOptions
from wheretolearn.algorithms.online.stream import Mode, pixels
from wheretolearn.seeding import derive_seed

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class PretrainOptions:
    meta_batches: int  # outer steps
    tasks: int  # tasks per meta-batch (the authors' batch_size)
    ways: int
    shots: int  # support images per class
    queries: int  # query images per class
    inner_steps: int  # their num_steps (the step itself is the rule's: their step_size)
    first_order: bool
    lr: float  # Adam's rate on theta (their meta_lr)


def pretrain_task(
    mode: Mode, options: PretrainOptions, gen: torch.Generator
) -> tuple[Batch, Batch]:
    """One task: support and query batches, class-major, of disjoint images."""
    classes = torch.unique(mode.labels)
    if len(classes) < options.ways:
        raise ValueError(f"pre-training pool {mode.name}: {len(classes)} classes < {options.ways}")
    chosen = classes[torch.randperm(len(classes), generator=gen)[: options.ways]]
    support, query, need = [], [], options.shots + options.queries
    for c in chosen:
        members = torch.nonzero(mode.labels == c).flatten()
        if len(members) < need:
            raise ValueError(
                f"pre-training pool {mode.name}: class {int(c)} has {len(members)} images, "
                f"fewer than shots + queries = {need}"
            )
        order = members[torch.randperm(len(members), generator=gen)]
        support.append(order[: options.shots])
        query.append(order[options.shots : need])
    ways = torch.arange(options.ways)
    return (
        (pixels(mode, torch.cat(support)), ways.repeat_interleave(options.shots)),
        (pixels(mode, torch.cat(query)), ways.repeat_interleave(options.queries)),
    )


def pretrain(model: nn.Module, mode: Mode, options: PretrainOptions, seed: int,
             method: dict[str, Any]) -> list[float]:  # fmt: skip
    """Meta-train ``model`` in place on tasks of ``mode``, adapting each support by the rule
    ``method`` names (``{name: maml, alpha: 0.05}``: fine-tuning's; ``{name: anil, ...}``: the
    head alone); the meta-batches' query losses. The rule must have no meta-parameters (only
    theta is learned here)."""
    rule = online_rule(method, model)
    if list(rule.parameters()):
        raise ValueError(f"pre-training learns theta only; the rule {rule.rule_name!r} has "
                         "meta-parameters")  # fmt: skip
    settings = OnlineOptions(inner_steps=options.inner_steps, gamma=1.0,
                             first_order=options.first_order)  # fmt: skip
    learner = OnlineCMAML(
        model, rule, settings, torch.optim.Adam(model.parameters(), lr=options.lr)
    )
    like = next(model.parameters())
    gen = torch.Generator().manual_seed(derive_seed(seed, "online-pretrain"))
    losses = []
    for _ in range(options.meta_batches):
        tasks = [pretrain_task(mode, options, gen) for _ in range(options.tasks)]
        batches = [(x.to(like), y.to(like.device)) for x, y in
                   [s for s, _ in tasks] + [q for _, q in tasks]]  # fmt: skip
        losses.append(learner.meta_update(batches))
    return losses
