"""The continual loop's settings (a run's ``train:`` section), apart from the learners so that
validating a run's parameters imports no torch."""

from __future__ import annotations

import dataclasses
from typing import Literal

from wheretolearn.validate import Count, Device, Positive, Size


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContinualTrainConfig:
    """The continual loop's settings (a run's ``train:`` section)."""

    batch_size: Count  # incoming examples per step of the stream
    epochs: Count  # passes over each task's data before the next task (1: single pass)
    memories: Size  # replay buffer size (total, all tasks)
    replay_batch_size: Count
    clip_norm: Positive | None  # gradient-norm clipping of theta and meta-parameter updates
    log_every: Count = 10  # stream steps between gradient-sparsity records (logging only)
    dtype: Literal["float32", "float64"] = "float32"
    device: Device = "auto"
