"""Building the network a params file asks for."""

from __future__ import annotations

from torch import nn

from wheretolearn.models.config import ContinualModelConfig, ModelConfig
from wheretolearn.models.conv4 import Conv4
from wheretolearn.models.mlp import MLP, ConvNet
from wheretolearn.models.resnet12 import ResNet12

RESNET_CHANNELS = {"small": (64, 128, 256, 512), "large": (64, 160, 320, 640)}


def build_model(cfg: ModelConfig, *, channels: int, image_size: int, ways: int) -> nn.Module:
    """The backbone a params file asks for, sized for the dataset and the number of ways."""
    transductive = cfg.batchnorm == "transductive"
    if cfg.name == "conv4":
        return Conv4(
            channels, ways, image_size, hidden=cfg.hidden, bias=cfg.bias, transductive=transductive
        )
    widths = resnet_widths(cfg)
    return ResNet12(channels, ways, widths, transductive=transductive)


def resnet_widths(cfg: ModelConfig) -> tuple[int, ...]:
    """ResNet-12's block channels: the size's, times ``width_scale`` (at least 1 each)."""
    return tuple(max(1, round(c * cfg.width_scale)) for c in RESNET_CHANNELS[cfg.size])


def head_names(model: nn.Module) -> set[str]:
    """Names of the output layer's parameters (what ANIL adapts and BOIL freezes)."""
    return {name for name, _ in model.named_parameters() if name.startswith("classifier.")}


def build_continual_model(
    cfg: ContinualModelConfig, input_shape: tuple[int, ...], outputs: int
) -> nn.Module:
    """The continual-learning network for inputs of ``input_shape`` (without the batch)."""
    if cfg.name == "mlp":
        inputs = 1
        for size in input_shape:
            inputs *= size
        return MLP(inputs, list(cfg.hidden), outputs)
    if len(input_shape) != 3:
        raise ValueError(
            f"convnet needs [C, H, W] inputs (stream.flatten: false), got {input_shape}"
        )
    return ConvNet(
        input_shape[0], input_shape[1], outputs, channels=cfg.channels, convs=cfg.convs, fc=cfg.fc
    )
