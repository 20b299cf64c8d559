"""Meta-experience replay: ``model/meralg1.py`` of the La-MAML repository (Algorithm 1 of
MER, Riemer et al. 2019: Reptile within and across batches)."""

from __future__ import annotations

import dataclasses

import torch

from wheretolearn.algorithms.continual._baseline import Replay
from wheretolearn.algorithms.continual.base import register
from wheretolearn.algorithms.rules.base import Modulation
from wheretolearn.validate import Count, Positive


@dataclasses.dataclass(frozen=True, kw_only=True)
class MEROptions:
    """Options of the ``mer`` learner (MER's Algorithm 1; the SGD rate is the rule's ``alpha``,
    the buffer and replay sizes are ``train.memories`` and ``train.replay_batch_size``).

    Attributes
    ----------
    beta:
        Within-batch Reptile rate: ``theta <- theta_A + beta (theta_B - theta_A)``.
    gamma:
        Across-batch Reptile rate: ``theta <- theta_A0 + gamma (theta - theta_A0)``. Default
        1.0, the value of La-MAML's MER script (which uses lr 0.1, beta 0.1, 10 batches per
        example, replay batch 25). Table S7's text gives MER "beta = 0.1, gamma = 0.05, 0.08"
        (memory 200, 1000) and batch and replay batch sizes 10; since its ER line also calls
        the learning rate gamma, and its scan lists learning rates but no across-batch rate,
        that gamma is most likely the SGD rate (``method.alpha``), with this gamma at 1.0.
    batches_per_example:
        Batches (each with a fresh replay sample) per incoming example.
    """

    beta: Positive
    gamma: Positive
    batches_per_example: Count


@register("mer")
class MER(Replay):
    """Meta-Experience Replay (Riemer et al. 2019, Algorithm 1; ``model/meralg1.py``).

    For each incoming example, in order: remember ``theta_A0``; ``batches_per_example`` times,
    remember ``theta_A``, draw ``train.replay_batch_size`` examples from the reservoir, put the
    incoming example first (as the reference code does), take one rule step per example of
    that batch in order, and pull back: ``theta <- theta_A + beta (theta - theta_A)``; then
    ``theta <- theta_A0 + gamma (theta - theta_A0)``. The example then enters the reservoir,
    so the next example of the same batch may replay it. Interpolation uses ``torch.lerp``,
    exact at rates 0 and 1; only the adapted parameters are interpolated (the others, and
    buffers, are never changed here).
    """

    Options = MEROptions

    def _snapshot(self) -> list[torch.Tensor]:
        return [p.detach().clone() for _, p in self._params()]

    @torch.no_grad()
    def _pull_back(self, start: list[torch.Tensor], rate: float) -> None:
        for (_, p), s in zip(self._params(), start, strict=True):
            p.copy_(torch.lerp(s, p, rate))

    def _example(self, x: torch.Tensor, y: torch.Tensor, modulation: Modulation) -> list:
        losses, start = [], self._snapshot()
        for _ in range(self.options.batches_per_example):
            before = self._snapshot()
            bx, by = self._with_replay(x, y)
            for j in range(len(bx)):
                losses.append(self._sgd_step(bx[j : j + 1], by[j : j + 1], modulation))
            self._pull_back(before, self.options.beta)
        self._pull_back(start, self.options.gamma)
        return losses

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        modulation = self._modulation()
        losses = []
        for i in range(len(x)):
            losses.extend(self._example(x[i : i + 1], y[i : i + 1], modulation))
            if self.first_visit:
                self.buffer.add(x[i : i + 1], y[i : i + 1], task)
        return float(torch.stack(losses).mean())
