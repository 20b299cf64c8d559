"""The network sections of a run's parameters (``model:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wheretolearn.errors import ConfigError
from wheretolearn.validate import Count, Positive


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """A few-shot backbone: conv4 of width ``hidden`` or ResNet-12 small/large."""

    name: Literal["conv4", "resnet12"]
    hidden: Count  # conv4 width (B.1.1: 64; Figure S2 varies it); resnet12 ignores it
    bias: bool  # conv and linear biases (Table S3 ablation)
    batchnorm: Literal["transductive", "non-transductive"]  # the papers: transductive
    size: Literal["small", "large"] = "small"  # resnet12 channels (64,128,256,512)/(64,160,320,640)
    # resnet12: every block's channels times this (a profile's budget, as conv4's hidden)
    width_scale: Positive = 1.0

    def __post_init__(self) -> None:
        if self.name != "resnet12" and self.width_scale != 1.0:
            raise ConfigError(
                f"model.width_scale: {self.width_scale} scales ResNet-12 only; "
                f"{self.name} has model.hidden"
            )


@dataclass(frozen=True, kw_only=True)
class ContinualModelConfig:
    """A continual-learning network: the MLP of the MNIST benchmarks or La-MAML's convnet."""

    name: Literal["mlp", "convnet"]
    hidden: list[Count]  # mlp hidden widths (B.2.1: 100, 100)
    channels: Count = 160  # convnet: channels of every conv layer (La-MAML's CIFAR network)
    convs: Count = 4  # convnet: 3x3 stride-2 conv layers
    fc: Count = 320  # convnet: width of the two fully-connected layers before the head
