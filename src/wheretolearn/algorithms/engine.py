"""Which execution strategy the engine uses on which device, chosen by measurement.

Every strategy computes the same numbers (up to float rounding; tests/test_engine*.py check
it in float64). Only speed and memory differ, and they differ by device, so the choice is a
table keyed by ``torch.device.type``, not a params setting. benchmarks/README.md records the
measurements behind each entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from wheretolearn.errors import UserError


@dataclass(frozen=True)
class EnginePlan:
    """How meta-training and evaluation run on one kind of device.

    Attributes
    ----------
    channels_last:
        Images in channels-last memory format in the per-task loop (oneDNN convolutions).
    vmap_meta_batch:
        First-order meta-training vmaps the tasks of a meta-batch instead of looping.
    eval_tasks_at_once:
        Evaluation adapts this many independent tasks together (1: one after the other).
    loader_workers:
        Episode-loading worker processes when the params leave ``data.num_workers`` unset
        (0: batches are built in the training process, on the critical path).
    pin_memory:
        Episode batches in page-locked host memory, so the copy to the device is asynchronous.
    compile_mode:
        None: eager inner steps. Otherwise the per-task loop's step gradient (fixed shapes) is
        ``torch.compile``-d with this mode ("default"; "reduce-overhead" replays it as a CUDA
        graph on a GPU).
    compile_backend:
        ``torch.compile``'s backend ("inductor"; tests use "aot_eager", which compiles nothing).
    """

    channels_last: bool
    vmap_meta_batch: bool
    eval_tasks_at_once: int
    measured: str
    loader_workers: int = 0
    pin_memory: bool = False
    compile_mode: str | None = None
    compile_backend: str = "inductor"


PLANS: dict[str, EnginePlan] = {
    # 2-core CPU, torch 2.13 (benchmarks/README.md, `bench.py --variants`): the channels-last
    # loop beats NCHW by 1.5x (20x faster max-pooling) and vmap by 2.2-2.6x; two task
    # threads +6-8% at 28x28, slower at 84x84; compiled steps 1.25-1.3x slower than eager at
    # 84x84, between 8% faster and 30% slower at 28x28;
    # a loader worker made a smoke Omniglot run slower (26.0 s against 23.8 s): on 2 cores it
    # takes a core from the training step.
    "cpu": EnginePlan(True, False, 1, "2-core CPU, torch 2.13.0", loader_workers=0),
    # Unmeasured: the usual GPU wins (kernels over many tasks at once). Run
    # `nox -s bench -- --full --variants` on the GPU and set this entry to the fastest variant.
    "cuda": EnginePlan(
        False, True, 50, "not measured (no GPU in the sessions so far)", 4, pin_memory=True
    ),
}


def plan_for(device: torch.device | str) -> EnginePlan:
    """The plan for ``device`` (CPU's for device types without an entry)."""
    return PLANS.get(torch.device(device).type, PLANS["cpu"])


@contextmanager
def using_plan(device: torch.device | str, plan: EnginePlan) -> Iterator[None]:
    """Inside the block, the engine runs ``plan`` on ``device``'s type (the benchmark's
    variants and the tests' comparisons of strategies); the table is restored after."""
    kind = torch.device(device).type
    saved = PLANS.get(kind)
    PLANS[kind] = plan
    try:
        yield
    finally:
        if saved is None:
            del PLANS[kind]
        else:
            PLANS[kind] = saved


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """A 4-d image batch in channels-last memory format (same values, other strides).

    The strides are written out, not left to ``contiguous(memory_format=...)``: a one-channel
    batch (Omniglot, MNIST) is already "channels-last contiguous" by PyTorch's test, keeps its
    NCHW strides, and the convolution then propagates NCHW through the whole network, where
    CPU max-pooling is about 20x slower than channels-last (5x64x28x28: 1.07 ms against
    0.05 ms on 2 cores).
    """
    if x.dim() != 4:
        return x
    strides = channels_last_strides(x.shape)
    if x.stride() == strides:
        return x
    return torch.empty_strided(x.shape, strides, dtype=x.dtype, device=x.device).copy_(x)


def channels_last_strides(shape: torch.Size) -> tuple[int, int, int, int]:
    """The strides of a channels-last ``[N, C, H, W]`` tensor, written out."""
    _, c, h, w = shape
    return (h * w * c, 1, w * c, c)


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
