"""Gradient episodic memory: ``model/gem.py`` of the La-MAML repository (Lopez-Paz & Ranzato
2017). Its episodic memory keeps exactly the last ``memories_per_task`` examples of a task (the
reference's ring drops the tail of a batch that crosses the end of the ring, and does not
restart it at a new task, leaving unwritten rows); its dual QP is solved exactly (no ``1e-3``
ridge, see :func:`gem_dual`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from wheretolearn.algorithms.continual._baseline import Baseline
from wheretolearn.algorithms.continual.base import register
from wheretolearn.algorithms.rules.base import Modulation
from wheretolearn.validate import Count, NonNegative, Size


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


@dataclasses.dataclass(frozen=True, kw_only=True)
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
    memories_per_task: Size
    memory_strength: NonNegative


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _unflat(vector: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    sizes = [t.numel() for t in like]
    return [v.view_as(t) for v, t in zip(vector.split(sizes), like, strict=True)]


@register("gem")
class GEM(Baseline):
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
