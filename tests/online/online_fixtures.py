"""Tiny pools, models and learners for the online tests (CPU, a few ms per step)."""

from __future__ import annotations

import torch

from wheretolearn.algorithms.online import online_rule
from wheretolearn.algorithms.online.learner import OnlineCMAML, OnlineOptions
from wheretolearn.algorithms.online.stream import PROTOCOL_WEIGHTS, Mode, OnlineStream
from wheretolearn.models.conv4 import Conv4

SIZE = 16  # the smallest image conv4's four poolings take (the protocol's is 28)


def mode(name: str, classes: int, per: int, weight: float, seed: int) -> Mode:
    """``classes`` classes of ``per`` uint8 images: a class prototype plus noise, the class id
    written into pixel (0, 0) so a test can read which class an image came from."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per)
    prototypes = torch.randint(0, 256, (classes, 1, SIZE, SIZE), generator=g)
    noise = torch.randint(-30, 31, (classes * per, 1, SIZE, SIZE), generator=g)
    images = (prototypes[labels] + noise).clamp(0, 255).to(torch.uint8)
    images[:, 0, 0, 0] = labels.to(torch.uint8)
    return Mode(name, images, labels, weight)


def modes() -> list[Mode]:
    sizes = {"omniglot": 30, "mnist": 10, "fashion-mnist": 10}
    return [mode(n, sizes[n], 4, w, seed=i) for i, (n, w) in enumerate(PROTOCOL_WEIGHTS.items())]


def stream(steps: int = 12, p: float = 0.7, seed: int = 0) -> OnlineStream:
    return OnlineStream(modes(), p=p, steps=steps, seed=seed)


def learner(method: dict, *, seed: int = 0, lr: float = 0.01, **options) -> OnlineCMAML:
    torch.manual_seed(seed)
    model = Conv4(1, 10, SIZE, hidden=4)
    rule = online_rule(method, model)
    theta_opt = torch.optim.Adam(model.parameters(), lr=lr)
    metas = list(rule.parameters())
    meta_opt = torch.optim.Adam(metas, lr=lr) if metas else None
    settings = {"inner_steps": 2, "gamma": 0.5, **options}
    return OnlineCMAML(model, rule, OnlineOptions(**settings), theta_opt, meta_opt)


SPARSE = {"name": "sparse-maml", "alpha": 0.1, "init_shift": 0.0, "ste_scale": 1.0}
