"""ResNet-12 as used by MetaOptNet, BOIL and the sparse-MAML authors (Table 2, Table S1)."""

from __future__ import annotations

import torch
from torch import nn

from wheretolearn.models.norm import TaskBatchNorm2d, support_forward


class ResidualBlock(nn.Module):
    """Three conv3x3-BN layers (LeakyReLU between), a 1x1 conv-BN shortcut, LeakyReLU, pooling.

    ``pool`` is ``(kernel/stride, padding)`` of the final max-pool or None: the authors pool
    84 -> 42 -> 21 -> 11 and do not pool after the last block. The final LeakyReLU runs after
    the pooling: it is increasing, so it commutes with the maximum to the bit (values and
    gradients) and touches a quarter of the elements.
    """

    def __init__(self, cin: int, cout: int, pool: tuple[int, int] | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = TaskBatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = TaskBatchNorm2d(cout)
        self.conv3 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn3 = TaskBatchNorm2d(cout)
        self.shortcut_conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.shortcut_bn = TaskBatchNorm2d(cout)
        self.pool = pool

    def forward(self, x: torch.Tensor, stats_rows: int | None) -> torch.Tensor:
        act = nn.functional.leaky_relu
        out = act(self.bn1(self.conv1(x), stats_rows))
        out = act(self.bn2(self.conv2(out), stats_rows))
        out = self.bn3(self.conv3(out), stats_rows)
        out = out + self.shortcut_bn(self.shortcut_conv(x), stats_rows)
        if self.pool is not None:
            size, padding = self.pool
            out = nn.functional.max_pool2d(out, size, size, padding)
        return act(out)


class ResNet12(nn.Module):
    """Four residual blocks, global average pooling, a linear classifier (Xavier init)."""

    POOLS = ((2, 0), (2, 0), (2, 1), None)

    def __init__(
        self,
        channels: int,
        ways: int,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        *,
        transductive: bool = True,
    ) -> None:
        super().__init__()
        self.transductive = transductive
        cins = (channels, *widths[:-1])
        self.features = nn.ModuleDict(
            {
                f"layer{i + 1}": ResidualBlock(cin, cout, pool)
                for i, (cin, cout, pool) in enumerate(zip(cins, widths, self.POOLS, strict=True))
            }
        )
        self.classifier = nn.Linear(widths[-1], ways)
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(self.classifier.bias)

    def _blocks(self, x: torch.Tensor, stats_rows: int | None) -> torch.Tensor:
        for block in self.features.values():
            x = block(x, stats_rows)
        return self.classifier(x.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return support_forward(self._blocks, x, context, self.transductive)
