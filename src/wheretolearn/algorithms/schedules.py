"""MAML++'s schedules over epochs (Antoniou et al. 2019, "How to train your MAML"): the
multi-step loss's per-step weights, derivative-order annealing and the cosine-annealed outer
learning rate. Each is a pure function of the epoch, so a resumed run takes the same values."""

from __future__ import annotations

import math


def step_weights(steps: int, epoch: int, anneal_epochs: int) -> list[float] | None:
    """The multi-step loss's weights of the query losses after inner steps 1..``steps`` in
    (0-based) ``epoch``; None from ``anneal_epochs`` on (the last step's loss alone).

    They start equal (``1/K`` each). Each epoch, every weight but the last falls by
    ``1 / (K * anneal_epochs)``, down to at least ``0.03 / K``, and the last one rises by
    ``K - 1`` times that, up to at most ``1 - (K - 1) * 0.03 / K``: the schedule of MAML++'s
    reference code, whose weights sum to 1 until the floor is reached.
    """
    if epoch >= anneal_epochs:
        return None
    if steps == 1:
        return [1.0]
    decay = 1.0 / steps / anneal_epochs
    floor = 0.03 / steps
    weights = [max(1.0 / steps - epoch * decay, floor) for _ in range(steps - 1)]
    last = min(1.0 / steps + epoch * (steps - 1) * decay, 1.0 - (steps - 1) * floor)
    return [*weights, last]


def first_order_in(epoch: int, first_order: bool, first_order_epochs: int) -> bool:
    """Derivative-order annealing: first order for the first ``first_order_epochs`` epochs
    (0-based ``epoch`` below it), then the run's own order (``first_order``)."""
    return first_order or epoch < first_order_epochs


def cosine_lr(base: float, minimum: float, epoch: int, epochs: int) -> float:
    """The outer learning rate in (0-based) ``epoch``: cosine-annealed from ``base`` at the
    first epoch towards ``minimum`` at the end of training."""
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * epoch / epochs))
