"""What a run is made of: model, update rule, optimisers, device, and where its tasks come from."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch
from torch import nn

from wheretolearn.algorithms.engine import plan_for
from wheretolearn.algorithms.rules import UpdateRule, build_rule
from wheretolearn.config import DataConfig, OptimizerConfig, RunConfig
from wheretolearn.errors import UserError
from wheretolearn.models import build_model, head_names


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, stable across processes and Python versions."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """The device ``name`` names (``auto``: CUDA when available); a UserError naming ``key``
    if it is not on this machine (checked here, in the job, not when the DAG is built: the
    machine that builds it may have no GPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise UserError(
                f"{key}: {name} is not available on this machine ({count} CUDA device(s), "
                f"torch {torch.__version__} built {'with' if torch.version.cuda else 'without'} "
                "CUDA); use auto or cpu, or run the job where that GPU is"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{key}: mps is not available on this machine; use auto or cpu")
    return device


class TaskShape(Protocol):
    channels: int
    image_size: int


class TaskSource(Protocol):
    """Where episodes come from. Batch ``i`` of a call is a pure function of its arguments."""

    info: TaskShape

    def batches(
        self, split: str, *, seed: int, num_batches: int, meta_batch_size: int
    ) -> Iterable[Any]: ...


class EpisodeSource:
    """Tasks of a prepared dataset through :func:`wheretolearn.data.episode_loader`."""

    def __init__(
        self,
        data: DataConfig,
        root: str | None = None,
        image_size: int | None = None,
        device: str = "cpu",
    ) -> None:
        from wheretolearn import data as datasets

        self.data = data if image_size is None else replace(data, image_size=image_size)
        self.root = root
        # the plan of the named kind of device; whether it exists is build_setup's check
        plan = plan_for(torch.device(device) if device != "auto" else resolve_device(device))
        # workers and pinning never change a batch (batch i is a pure function of the seed)
        self.num_workers = plan.loader_workers if data.num_workers is None else data.num_workers
        self.pin_memory = plan.pin_memory
        described = datasets.describe(self.data.dataset)
        self.info = replace(described, image_size=self.data.image_size or described.image_size)

    def batches(self, split: str, *, seed: int, num_batches: int, meta_batch_size: int):
        from wheretolearn.data import episode_loader

        d = self.data
        return episode_loader(
            d.dataset,
            split,
            root=self.root,
            ways=d.ways,
            shots=d.shots,
            queries=d.queries,
            meta_batch_size=meta_batch_size,
            num_batches=num_batches,
            seed=seed,
            image_size=d.image_size,
            normalisation=d.normalisation,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
        )


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
        theta_opt = build_optimizer(config.train.theta_optimizer, list(model.parameters()))
        meta_opt = build_optimizer(config.train.meta_optimizer, list(rule.parameters()))
    return Setup(config, model, rule, theta_opt, meta_opt, device, dtype)


def sparsity_record(rule: UpdateRule) -> dict[str, Any]:
    """Per-tensor gradient sparsity and the parameter-weighted overall level."""
    per = rule.sparsity()
    sizes = {n: float(torch.Size(s).numel()) for n, s in rule.shapes.items()}
    total = sum(sizes.values())
    overall = sum(per[n] * sizes[n] for n in per) / total
    return {"sparsity": overall, "sparsity_per_tensor": per}
