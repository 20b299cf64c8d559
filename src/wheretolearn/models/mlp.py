"""The continual-learning networks: La-MAML's MNIST MLP and its strided-conv network.

Both initialise like La-MAML's code (Kaiming-normal weights, zero biases) and are plain
``nn.Module``s called with ``functional_call``. Parameter names run from input to output
(``layers.0.weight`` is W1), which is the order the sparsity tables use.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def _linear(n_in: int, n_out: int) -> nn.Linear:
    layer = nn.Linear(n_in, n_out)
    nn.init.kaiming_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MLP(nn.Module):
    """``inputs -> hidden[0] -> ... -> outputs`` with ReLUs between (784-100-100-10)."""

    def __init__(self, inputs: int, hidden: list[int], outputs: int) -> None:
        super().__init__()
        sizes = [inputs, *hidden, outputs]
        self.layers = nn.ModuleList(_linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer in self.layers[:-1]:
            x = F.relu(layer(x))
        return self.layers[-1](x)


class ConvNet(nn.Module):
    """``convs`` 3x3 stride-2 convolutions with ReLU, then two ReLU fully-connected layers of
    width ``fc`` and a linear head (La-MAML's CIFAR network, no BatchNorm)."""

    def __init__(
        self, channels_in: int, image_size: int, outputs: int, *, channels: int, convs: int, fc: int
    ) -> None:
        super().__init__()
        conv_layers = []
        size, c_in = image_size, channels_in
        for _ in range(convs):
            conv = nn.Conv2d(c_in, channels, 3, stride=2, padding=1)
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
            conv_layers.append(conv)
            size, c_in = math.floor((size - 1) / 2) + 1, channels
        self.convs = nn.ModuleList(conv_layers)
        self.fcs = nn.ModuleList(
            [_linear(channels * size * size, fc), _linear(fc, fc), _linear(fc, outputs)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        x = x.flatten(1)
        for layer in self.fcs[:-1]:
            x = F.relu(layer(x))
        return self.fcs[-1](x)
