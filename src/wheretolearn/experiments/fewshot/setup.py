"""What a few-shot run is made of: model, update rule, optimisers, device and dtype."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from wheretolearn.algorithms.engine import resolve_device
from wheretolearn.algorithms.rules.base import UpdateRule, build_rule
from wheretolearn.data.sources import TaskShape
from wheretolearn.experiments.fewshot.config import OptimizerConfig, RunConfig
from wheretolearn.models import build_model, head_names
from wheretolearn.seeding import derive_seed


def build_optimizer(cfg: OptimizerConfig, params: list[nn.Parameter]):
    if not params:
        return None
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)


@dataclass
class Setup:
    config: RunConfig
    model: nn.Module
    rule: UpdateRule
    theta_opt: torch.optim.Optimizer | None  # None: built for evaluation only
    meta_opt: torch.optim.Optimizer | None
    device: torch.device
    dtype: torch.dtype

    def to_device(self, batch):
        """A task batch on the run's device, images in the run's dtype."""
        kw = {"device": self.device, "non_blocking": True}
        return type(batch)(
            batch.support_x.to(dtype=self.dtype, **kw),
            batch.support_y.to(**kw),
            batch.query_x.to(dtype=self.dtype, **kw),
            batch.query_y.to(**kw),
        )


def build_setup(config: RunConfig, info: TaskShape, seed: int, *, optimizers: bool = True) -> Setup:
    """Model and rule initialised from ``seed`` alone; optimisers per the params, unless
    ``optimizers`` is false (evaluation: building one imports ``torch._dynamo``, 1.4 s)."""
    torch.manual_seed(derive_seed(seed, "init"))
    model = build_model(
        config.model, channels=info.channels, image_size=info.image_size, ways=config.data.ways
    )
    device = resolve_device(config.train.device)
    dtype = getattr(torch, config.train.dtype)
    model.to(device=device, dtype=dtype)
    rule = build_rule(config.method, model, head_names(model)).to(device=device, dtype=dtype)
    theta_opt = meta_opt = None
    if optimizers:
        if not config.train.freeze_theta:  # a frozen theta (second phase) has no optimiser
            theta_opt = build_optimizer(config.train.theta_optimizer, list(model.parameters()))
        meta_opt = build_optimizer(config.train.meta_optimizer, list(rule.parameters()))
    return Setup(config, model, rule, theta_opt, meta_opt, device, dtype)
