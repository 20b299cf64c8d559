"""Experience replay: ``model/eralg4.py`` of the La-MAML repository (Algorithm 4 of MER,
Riemer et al. 2019), without task labels. Replay samples are drawn without replacement
(:meth:`Reservoir.sample`; the reference re-shuffles before every draw, so it may repeat an
example), and the reservoir's replacement index is uniform on ``[0, seen)`` (the reference's
``random.randint(0, age)`` is off by one)."""

from __future__ import annotations

import dataclasses

import torch

from wheretolearn.algorithms.continual._baseline import Replay
from wheretolearn.algorithms.continual.base import register
from wheretolearn.validate import Count


@dataclasses.dataclass(frozen=True, kw_only=True)
class EROptions:
    """Options of the ``er`` learner (buffer and replay sizes are ``train.memories`` and
    ``train.replay_batch_size``).

    Attributes
    ----------
    steps:
        Gradient steps per incoming batch, each on a fresh replay sample. Table S7's text:
        2 (memory 200) and 4 (memory 1000), learning rates 0.001 and 0.01, replay batch sizes
        20 and 10, batch size 10.
    """

    steps: Count


@register("er")
class ER(Replay):
    """Experience replay (MER's Algorithm 4, ``eralg4.py``) with a reservoir buffer.

    Each of ``steps`` steps: the incoming batch joined with ``train.replay_batch_size``
    examples drawn from the buffer (when it is non-empty), one step on their mean loss. The
    batch enters the buffer once, after learning.
    """

    Options = EROptions

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        modulation = self._modulation()
        losses = []
        for _ in range(self.options.steps):
            bx, by = self._with_replay(x, y)
            losses.append(self._sgd_step(bx, by, modulation))
        if self.first_visit:
            self.buffer.add(x, y, task)
        return float(torch.stack(losses).mean())
