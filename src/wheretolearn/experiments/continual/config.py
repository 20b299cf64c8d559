"""A continual run's parameters: an update rule inside a learner, on a stream, validated once
and recorded in full (see :mod:`wheretolearn.experiments.fewshot.config` for the rule on
defaults: a value the paper sets has none)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from wheretolearn.algorithms.continual.config import ContinualTrainConfig
from wheretolearn.data.config import StreamConfig
from wheretolearn.models.config import ContinualModelConfig
from wheretolearn.validate import from_dict, record, resolved


@dataclass(frozen=True, kw_only=True)
class ContinualConfig:
    """One continual run: an update rule (``method``) inside a learner (``learner``)."""

    method: dict[str, Any]  # the update rule, as in the few-shot runs (name + options)
    learner: dict[str, Any]  # the outer loop variant: lookahead, sgd, er, gem, mer (+ options)
    stream: StreamConfig
    model: ContinualModelConfig
    train: ContinualTrainConfig
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """What the run records and is identified by (``when_set`` fields only when set)."""
        return record(self)


def parse(data: dict[str, Any]) -> ContinualConfig:
    """Validate a continual run's params: the sections, the rule's and the learner's options."""
    from wheretolearn.algorithms.continual.base import learner_options
    from wheretolearn.algorithms.rules.base import method_options

    config = from_dict(ContinualConfig, data)
    return dataclasses.replace(
        config,
        method=resolved(config.method, method_options(config.method)),
        learner=resolved(config.learner, learner_options(config.learner)),
    )
