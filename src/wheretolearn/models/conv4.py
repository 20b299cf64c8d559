"""The four-layer convolutional network of MAML and the sparse-MAML paper (conv4-64)."""

from __future__ import annotations

import torch
from torch import nn

from wheretolearn.models.norm import TaskBatchNorm2d, support_forward


class ConvBlock(nn.Module):
    """conv3x3 (padding 1) -> BatchNorm -> ReLU -> max-pool 2.

    The ReLU runs after the pooling: max-pooling commutes with any non-decreasing function,
    so values and gradients are the same to the bit (a window whose maximum is not positive
    gets a zero gradient either way), and the ReLU and its backward touch a quarter of the
    elements.
    """

    def __init__(self, cin: int, cout: int, bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=bias)
        self.norm = TaskBatchNorm2d(cout)

    def forward(self, x: torch.Tensor, stats_rows: int | None) -> torch.Tensor:
        x = nn.functional.max_pool2d(self.norm(self.conv(x), stats_rows), 2)
        return torch.relu(x)


class Conv4(nn.Module):
    """Four conv blocks of ``hidden`` channels and a linear classifier.

    Parameter names (``features.layer1.conv.weight``, ..., ``classifier.bias``) follow the
    authors' model so masks and sparsity logs line up with theirs. PyTorch's default
    initialisation (Kaiming-uniform) is used, as in the authors' code.
    """

    def __init__(
        self,
        channels: int,
        ways: int,
        image_size: int,
        *,
        hidden: int = 64,
        bias: bool = True,
        transductive: bool = True,
    ) -> None:
        super().__init__()
        self.transductive = transductive
        widths = [channels, hidden, hidden, hidden, hidden]
        self.features = nn.ModuleDict(
            {f"layer{i + 1}": ConvBlock(widths[i], widths[i + 1], bias) for i in range(4)}
        )
        side = image_size
        for _ in range(4):
            side //= 2
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for four 2x2 poolings")
        self.classifier = nn.Linear(hidden * side * side, ways, bias=bias)

    def _blocks(self, x: torch.Tensor, stats_rows: int | None) -> torch.Tensor:
        for block in self.features.values():
            x = block(x, stats_rows)
        return self.classifier(x.flatten(1))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return support_forward(self._blocks, x, context, self.transductive)
