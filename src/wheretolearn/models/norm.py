"""BatchNorm without running statistics: transductive or support-statistics (non-transductive)."""

from __future__ import annotations

import torch
from torch import nn


class TaskBatchNorm2d(nn.Module):
    """BatchNorm over a task's batch, never over running averages.

    ``forward(x, stats_rows)``: the mean and variance are computed over the first ``stats_rows``
    examples (all when None) and applied to every example. With ``stats_rows`` set to the support
    set's size, query examples are normalised with support statistics (non-transductive).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, stats_rows: int | None = None) -> torch.Tensor:
        if stats_rows is None:
            return nn.functional.batch_norm(
                x, None, None, self.weight, self.bias, True, 0.0, self.eps
            )
        ref = x[:stats_rows]
        mean = ref.mean(dim=(0, 2, 3), keepdim=True)
        var = ref.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
        scale = self.weight.view(1, -1, 1, 1) * torch.rsqrt(var + self.eps)
        return (x - mean) * scale + self.bias.view(1, -1, 1, 1)


def support_forward(
    blocks_forward, x: torch.Tensor, context: torch.Tensor | None, transductive: bool
) -> torch.Tensor:
    """Run ``blocks_forward(x, stats_rows)`` for a query, honouring the BatchNorm mode."""
    if transductive or context is None:
        return blocks_forward(x, None)
    rows = context.shape[0]
    return blocks_forward(torch.cat([context, x]), rows)[rows:]
