"""Continual-learning baselines: single-pass SGD, ER, GEM and MER.

Every baseline takes its step from the update rule: a gradient ``g`` of tensor ``name`` becomes
``theta <- rule.step(0, name, theta, g, modulation)`` with ``modulation = rule.begin()``
(detached), for every tensor in ``rule.adapted``; so ``method: {name: maml, alpha: lr}`` is
plain SGD at rate ``lr``. Losses are the mean cross-entropy of the single-headed classifier;
every gradient (of a batch, of a task's memory, of one example) has its joint L2 norm clipped
to ``train.clip_norm`` before use (:func:`clip_norm_`), as ``torch.nn.utils.clip_grad_norm_``
does in the reference code after every ``backward``. Randomness comes from ``self.generator`` only.

Sources (read, not copied; the La-MAML repository montrealrobotics/La-MAML, which carries the
baselines of Riemer et al.'s MER repository and of GEM):

* ``er``: ``model/eralg4.py`` (Algorithm 4 of MER, Riemer et al. 2019), without task labels;
* ``gem``: ``model/gem.py`` (Lopez-Paz & Ranzato 2017, copied there from GEM's code);
* ``mer``: ``model/meralg1.py`` (Algorithm 1 of MER: Reptile within and across batches).

Deliberate differences from that code: replay samples are drawn without replacement
(:meth:`Reservoir.sample`; the reference re-shuffles before every draw, so it may repeat an
example); the reservoir's replacement index is uniform on ``[0, seen)`` (the reference's
``random.randint(0, age)`` is off by one); GEM's episodic memory keeps exactly the last
``memories_per_task`` examples of a task (the reference's ring drops the tail of a batch that
crosses the end of the ring, and does not restart it at a new task, leaving unwritten rows);
GEM's dual QP is solved exactly (no ``1e-3`` ridge, see :func:`gem_dual`). In multi-pass runs
buffers are filled on the first pass over a task only (``learner.first_visit``), as La-MAML's
code does for its own buffer: a revisited example is not a new sample of the stream.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

from wheretolearn.algorithms.continual import Learner, clip_norm_, register
from wheretolearn.algorithms.continual.memory import Reservoir
from wheretolearn.algorithms.inner_loop import inner_loss
from wheretolearn.algorithms.rules import Modulation
from wheretolearn.validate import Count, NonNegative, Positive, Size


class _Baseline(Learner):
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


# ---------------------------------------------------------------------------------------------
# single-pass SGD


@dataclasses.dataclass(frozen=True)
class SGDOptions:
    """Options of the ``sgd`` learner.

    Attributes
    ----------
    steps:
        Gradient steps on each incoming batch (La-MAML's ``glances``).
    """

    steps: Count = 1


@register("sgd")
class SGD(_Baseline):
    """Online SGD: ``steps`` steps on the mean loss of each incoming batch, no memory."""

    Options = SGDOptions

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        modulation = self._modulation()
        losses = [self._sgd_step(x, y, modulation) for _ in range(self.options.steps)]
        return float(torch.stack(losses).mean())


# ---------------------------------------------------------------------------------------------
# experience replay


class _Replay(_Baseline):
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


@dataclasses.dataclass(frozen=True)
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

    steps: Count = 1


@register("er")
class ER(_Replay):
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


# ---------------------------------------------------------------------------------------------
# gradient episodic memory


class EpisodicMemory:
    """Per task, the last ``capacity`` examples offered (one ring buffer per task, as GEM).

    Parameters
    ----------
    capacity:
        Examples kept per task (0: none).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.rings: dict[int, dict[str, Any]] = {}

    def tasks(self) -> list[int]:
        """Tasks with at least one stored example, in the order they were first seen."""
        return [t for t, ring in self.rings.items() if ring["count"] > 0]

    def add(self, x: torch.Tensor, y: torch.Tensor, task: int) -> None:
        """Offer the examples of a batch, in order; each task keeps its latest ones."""
        cap = self.capacity
        if cap == 0:
            return
        if task not in self.rings:
            self.rings[task] = {
                "count": 0,
                "x": torch.empty((cap, *x.shape[1:]), dtype=x.dtype, device=x.device),
                "y": torch.empty((cap,), dtype=y.dtype, device=y.device),
            }
        ring = self.rings[task]
        slots = torch.arange(ring["count"], ring["count"] + len(x)) % cap
        keep = slice(max(0, len(x) - cap), len(x))  # distinct slots: at most cap examples
        ring["x"][slots[keep].to(ring["x"].device)] = x[keep].to(ring["x"])
        ring["y"][slots[keep].to(ring["y"].device)] = y[keep].to(ring["y"])
        ring["count"] += len(x)

    def get(self, task: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored examples of ``task`` (slot order)."""
        ring = self.rings[task]
        n = min(ring["count"], self.capacity)
        return ring["x"][:n], ring["y"][:n]

    def state(self) -> dict[str, Any]:
        rings = []
        for task, ring in self.rings.items():
            x, y = self.get(task)
            rings.append({"task": task, "count": ring["count"], "x": x.clone(), "y": y.clone()})
        return {"capacity": self.capacity, "rings": rings}

    def load_state(self, state: dict[str, Any]) -> None:
        self.capacity, self.rings = state["capacity"], {}
        for entry in state["rings"]:
            x, y, n = entry["x"], entry["y"], len(entry["x"])
            ring = {
                "count": entry["count"],
                "x": torch.empty((self.capacity, *x.shape[1:]), dtype=x.dtype, device=x.device),
                "y": torch.empty((self.capacity,), dtype=y.dtype, device=y.device),
            }
            ring["x"][:n], ring["y"][:n] = x, y
            self.rings[entry["task"]] = ring


def gem_dual(memories: np.ndarray, g: np.ndarray, margin: float) -> np.ndarray:
    """Solve GEM's dual QP exactly, as a non-negative least-squares problem.

    GEM projects the proposed gradient ``g`` (p,) onto ``{z : G z >= 0}``, ``G`` (t, p) the
    past tasks' memory gradients, by its dual (Lopez-Paz & Ranzato 2017, Eq. 13; the code's
    ``memory_strength`` raises the bound from 0 to ``margin``)::

        min_v 1/2 v^T G G^T v + g^T G^T v   s.t.  v >= margin,    g~ = G^T v + g.

    Since ``1/2 v^T G G^T v + g^T G^T v = 1/2 ||G^T v + g||^2 - 1/2 ||g||^2``, substituting
    ``v = u + margin 1`` gives ``G^T v + g = G^T u + b`` with ``b = g + margin G^T 1``: the
    dual is exactly ``min_{u >= 0} ||A u - c||^2`` with ``A = G^T``, ``c = -b``, an NNLS
    problem (``scipy.optimize.nnls``, Lawson-Hanson). With the reduced QR ``A = Q R``,
    ``||A u - c||^2 = ||R u - Q^T c||^2 + const``, so the NNLS is solved on the (t, t) system
    ``(R, Q^T c)``: same minimiser, cost independent of p after one QR. Its KKT conditions give
    ``G g~ = A^T (A u - c) >= 0``: the projected gradient does not conflict with any memory.
    GEM's code solves the same QP with ``quadprog`` after adding ``1e-3 I`` to ``G G^T``; here
    it is solved without that ridge. Everything is float64.

    Parameters
    ----------
    memories:
        ``G``, shape (t, p), one flattened memory gradient per row.
    g:
        The proposed gradient, shape (p,).
    margin:
        The lower bound of ``v`` (GEM's ``memory_strength``; 0 is the plain projection).

    Returns
    -------
    numpy.ndarray
        The dual solution ``v`` (t,), every entry at least ``margin``.
    """
    a = np.asarray(memories, dtype=np.float64).T
    b = np.asarray(g, dtype=np.float64) + margin * a.sum(axis=1)
    q, r = np.linalg.qr(a, mode="reduced")
    from scipy.optimize import nnls  # GEM only: its import costs every other job 0.8 s

    u, _ = nnls(r, -(q.T @ b))
    return u + margin


def gem_project(g: torch.Tensor, memories: torch.Tensor, margin: float) -> torch.Tensor:
    """GEM's projected gradient ``g~ = G^T v + g`` when some ``<g, G_k> < 0``, else ``g``.

    Parameters
    ----------
    g:
        The flattened gradient on the incoming batch, shape (p,).
    memories:
        The flattened gradients of the past tasks' memories, shape (t, p).
    margin:
        GEM's ``memory_strength`` (see :func:`gem_dual`).

    Returns
    -------
    torch.Tensor
        ``g`` itself when no constraint is violated, else the projection (``g``'s dtype and
        device; computed in float64).
    """
    big = memories.detach().to("cpu", torch.float64).numpy()
    g64 = g.detach().to("cpu", torch.float64).numpy()
    if not (big @ g64 < 0).any():
        return g
    v = gem_dual(big, g64, margin)
    return torch.from_numpy(big.T @ v + g64).to(g)


@dataclasses.dataclass(frozen=True)
class GEMOptions:
    """Options of the ``gem`` learner.

    Attributes
    ----------
    steps:
        Projected gradient steps per incoming batch (La-MAML's ``glances``; Table S7's text: 2).
    memories_per_task:
        Episodic memory of each task: its last examples. The number of tasks is not known to
        the learner, so this is not derived from ``train.memories``; default 10, La-MAML's
        scripts' ``n_memories``. (Table S7's text says "500 samples per task", which cannot fit
        memories of 200 or 1000 over 5 tasks; for a total ``M`` over ``T`` tasks use ``M // T``.)
    memory_strength:
        GEM's margin: lower bound of the dual variables (0: the exact projection; Table S7: 0.5).
    """

    steps: Count = 1
    memories_per_task: Size = 10
    memory_strength: NonNegative = 0.5


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(vector: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    sizes = [t.numel() for t in like]
    return [v.view_as(t) for v, t in zip(vector.split(sizes), like, strict=True)]


@register("gem")
class GEM(_Baseline):
    """Gradient Episodic Memory (Lopez-Paz & Ranzato 2017), as ``model/gem.py`` runs it.

    Each of ``steps`` steps: the (clipped) gradient ``g`` on the incoming batch and, at the
    same weights, the (clipped) gradient of every *other* task's memory loss; if ``g`` conflicts
    with one of them it is replaced by :func:`gem_project`'s ``g~``; then one rule step. The
    batch then enters its task's memory. The guarantee ``<g~, g_k> >= 0`` is on the gradient;
    a rule with per-coordinate rates (not ``maml``) rescales it afterwards.
    """

    Options = GEMOptions

    def __init__(self, model, rule, options, train, generator) -> None:
        super().__init__(model, rule, options, train, generator)
        self.memory = EpisodicMemory(options.memories_per_task)

    def _step(self, x: torch.Tensor, y: torch.Tensor, task: int, modulation: Modulation):
        loss, grads = self._gradients(x, y)
        past = [t for t in self.memory.tasks() if t != task]
        if past:
            rows = []
            for t in past:
                mx, my = self.memory.get(t)
                rows.append(_flat(self._gradients(mx.to(x), my.to(y))[1]))
            g = gem_project(_flat(grads), torch.stack(rows), self.options.memory_strength)
            grads = _unflat(g, grads)
        self._apply(grads, modulation)
        return loss

    def observe(self, x: torch.Tensor, y: torch.Tensor, task: int) -> float:
        modulation = self._modulation()
        losses = [self._step(x, y, task, modulation) for _ in range(self.options.steps)]
        if self.first_visit:
            self.memory.add(x, y, task)
        return float(torch.stack(losses).mean())

    def extra_state(self) -> dict[str, Any]:
        return {"memory": self.memory.state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.memory.load_state(state["memory"])


# ---------------------------------------------------------------------------------------------
# meta-experience replay


@dataclasses.dataclass(frozen=True)
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

    beta: Positive = 0.1
    gamma: Positive = 1.0
    batches_per_example: Count = 1


@register("mer")
class MER(_Replay):
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
