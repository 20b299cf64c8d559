"""The Omniglot-MNIST-FashionMNIST stream of C-MAML (Caccia et al. 2020), from image pools.

At every step ``t`` (from 1 on) the task switches with probability ``1 - p``. A switch draws
a mode with the configured weights (the protocol: Omniglot 0.5, MNIST 0.25, Fashion-MNIST
0.25), then ``ways`` distinct classes of that mode uniformly, in random order: the ``j``-th
drawn class gets label ``j``, so every switch brings a fresh label permutation (MNIST and
Fashion-MNIST, which have exactly 10 classes, recur with new permutations; Omniglot draws a new
subset). Step 0 starts the first task and is not a switch. A redrawn mode is a switch too (its
classes and labels are redrawn), as in the authors' code. Each step is a batch of ``shots``
images per class, drawn uniformly *with replacement* from the class's images (the authors'
``uniform_(0, n).long()``), class after class.

Randomness: the switch decisions come from one generator seeded by
``derive_seed("online-stream", seed, "switch")`` (all steps drawn at once), the task that
starts at step ``s`` from ``derive_seed(..., "task", s)`` and the images of step ``t`` from
``derive_seed(..., "images", t)``. So :meth:`OnlineStream.batch` is a pure function of
``(seed, t)``: a resumed run asks for step ``t`` and gets it, and no global RNG is touched.

Pixels (see ``PIXELS``): every mode's images are floats in [0, 1] (uint8 pools are divided by
255), white-on-black or black-on-white as the source has them; a mode's ``scale`` multiplies
them afterwards. The authors leave MNIST and Fashion-MNIST in 0..255 while Omniglot is in
[0, 1]; ``scale: 255`` on those modes reproduces that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from wheretolearn.seeding import derive_seed

#: The protocol's mode weights (C-MAML's pretrain / ood1 / ood2), by dataset family name.
PROTOCOL_WEIGHTS = {"omniglot": 0.5, "mnist": 0.25, "fashion-mnist": 0.25}

PIXELS = (
    "every mode in [0, 1] (uint8 / 255), scale 1: the project's convention in every loop. The "
    "authors' code leaves MNIST and Fashion-MNIST in 0..255 (Omniglot in [0, 1]); the conv4's "
    "BatchNorm right after the first convolution makes the network invariant to an input scale "
    "up to that convolution's bias and BatchNorm's eps, so the gap matters little, but it is "
    "an artefact, not part of the protocol; a mode's scale: 255 reproduces it"
)


@dataclass(frozen=True, eq=False)
class Mode:
    """One source of tasks: its images ``[N, C, H, W]`` (uint8, or floats in [0, 1]), their
    integer labels ``[N]``, its weight in the mode draw and the factor on its pixels."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    weight: float
    scale: float = 1.0


@dataclass(frozen=True)
class StreamTask:
    mode: int  # index into the stream's modes
    classes: tuple[int, ...]  # the source labels; the j-th gets label j


@dataclass(frozen=True, eq=False)
class StreamBatch:
    """One step of the stream: the batch, its mode's name, and whether its task just began."""

    step: int
    x: torch.Tensor
    y: torch.Tensor
    mode: str
    switched: bool  # a true task switch at this step (never at step 0)


class OnlineStream:
    """``steps`` batches of ``ways``-way ``shots``-shot tasks switching with probability ``1-p``.

    Parameters
    ----------
    modes:
        The pools, each with at least ``ways`` classes and a positive weight (the weights are
        normalised to sum to 1).
    p:
        Probability of staying on the current task at each step, in [0, 1).
    steps, ways, shots, seed:
        Length of the stream, classes per task, images per class per step, the stream's seed.
    """

    def __init__(
        self, modes: Sequence[Mode], *, p: float, steps: int, seed: int, ways: int = 10,
        shots: int = 5,
    ) -> None:  # fmt: skip
        _check(modes, p, steps, ways, shots)
        self.modes, self.p, self.steps, self.seed = list(modes), p, steps, seed
        self.ways, self.shots = ways, shots
        total = sum(m.weight for m in self.modes)
        self.weights = torch.tensor([m.weight / total for m in self.modes], dtype=torch.float64)
        self.classes = [torch.unique(m.labels).tolist() for m in self.modes]
        self.members = [
            {c: torch.nonzero(m.labels == c).flatten() for c in cls}
            for m, cls in zip(self.modes, self.classes, strict=True)
        ]
        gen = _generator(seed, "switch")
        draws = torch.rand(steps, generator=gen, dtype=torch.float64)
        self.switches = draws > p  # the authors' np.random.uniform() > p_statio
        self.switches[0] = False
        marks = torch.where(self.switches, torch.arange(steps), 0)
        self.starts = torch.cummax(marks, dim=0).values  # the step the task of step t began

    def __len__(self) -> int:
        return self.steps

    def task(self, start: int) -> StreamTask:
        """The task that begins at step ``start`` (a pure function of the seed and ``start``)."""
        gen = _generator(self.seed, "task", start)
        mode = int(torch.multinomial(self.weights, 1, generator=gen))
        pool = self.classes[mode]
        order = torch.randperm(len(pool), generator=gen)[: self.ways].tolist()
        return StreamTask(mode, tuple(pool[i] for i in order))

    def batch(self, step: int) -> StreamBatch:
        """The batch of step ``step``: images ``[ways * shots, C, H, W]``, labels class-major."""
        if not 0 <= step < self.steps:
            raise IndexError(f"step {step} is outside the stream's 0..{self.steps - 1}")
        task = self.task(int(self.starts[step]))
        mode = self.modes[task.mode]
        gen = _generator(self.seed, "images", step)
        picks = []
        for c in task.classes:
            members = self.members[task.mode][c]
            picks.append(members[torch.randint(len(members), (self.shots,), generator=gen)])
        x = pixels(mode, torch.cat(picks))
        y = torch.arange(self.ways).repeat_interleave(self.shots)
        return StreamBatch(step, x, y, mode.name, bool(self.switches[step]))

    def describe(self) -> dict[str, Any]:
        """What a run records about its stream."""
        return {
            "p": self.p, "steps": self.steps, "ways": self.ways, "shots": self.shots,
            "seed": self.seed, "pixels": PIXELS,
            "modes": [
                {"name": m.name, "weight": float(w), "scale": m.scale, "size": len(m.labels),
                 "classes": len(c)}
                for m, w, c in zip(self.modes, self.weights, self.classes, strict=True)
            ],
        }  # fmt: skip


def pixels(mode: Mode, index: torch.Tensor) -> torch.Tensor:
    """The mode's images at ``index`` as floats: uint8 / 255, times the mode's scale."""
    images = mode.images[index]
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    return x * mode.scale if mode.scale != 1.0 else x


def _generator(*parts: Any) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed("online-stream", *parts))


def _check(modes: Sequence[Mode], p: float, steps: int, ways: int, shots: int) -> None:
    """Clear errors for a stream that cannot be built."""
    if not modes:
        raise ValueError("an online stream needs at least one mode")
    if not 0 <= p < 1:
        raise ValueError(f"p (the probability of staying on a task) must be in [0, 1), got {p}")
    if steps < 1 or ways < 2 or shots < 1:
        raise ValueError(f"need steps >= 1, ways >= 2, shots >= 1; got {steps}, {ways}, {shots}")
    for m in modes:
        if m.images.dim() != 4 or len(m.images) != len(m.labels) or m.labels.dim() != 1:
            raise ValueError(
                f"mode {m.name}: images must be [N, C, H, W] with N labels, got "
                f"{tuple(m.images.shape)} and {tuple(m.labels.shape)}"
            )
        if not m.weight > 0:
            raise ValueError(f"mode {m.name}: weight must be positive, got {m.weight}")
        if (n := len(torch.unique(m.labels))) < ways:
            raise ValueError(f"mode {m.name} has {n} classes, fewer than ways = {ways}")
        if m.images.dtype != torch.uint8 and not m.images.is_floating_point():
            raise ValueError(f"mode {m.name}: images must be uint8 or floating point")
    shapes = {tuple(m.images.shape[1:]) for m in modes}
    if len(shapes) > 1:
        raise ValueError(f"every mode's images must have one shape [C, H, W], got {shapes}")
