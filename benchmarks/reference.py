"""The authors' algorithm as they ran it, for the benchmark only (never imported by src/).

Written from the paper's description of the authors' training step: a Python loop over the
tasks of a meta-batch; parameters in an ordered dictionary passed to a functional forward (as
torchmeta's ``MetaModule`` does); ``torch.autograd.grad`` of the inner loss with respect to
every parameter at each inner step; first order (the gradients carry no graph); the binary
gradient mask ``1[m >= 0]`` with a straight-through backward; the outer loss summed over the
meta-batch and backpropagated once, so every task's query graph lives until then. Evaluation
runs the same step and returns the query accuracy (its graph is built and then dropped).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch.nn import functional as F

POOLS = ((2, 0), (2, 0), (2, 1), None)  # ResNet-12: 84 -> 42 -> 21 -> 11, no last pooling


def _bn(x, p, prefix):
    return F.batch_norm(x, None, None, p[prefix + ".weight"], p[prefix + ".bias"], training=True)


def conv4_forward(x: torch.Tensor, p: OrderedDict) -> torch.Tensor:
    """conv4 with transductive BatchNorm, parameters named like wheretolearn's Conv4."""
    for i in range(1, 5):
        name = f"features.layer{i}"
        x = F.conv2d(x, p[name + ".conv.weight"], p.get(name + ".conv.bias"), padding=1)
        x = F.max_pool2d(F.relu(_bn(x, p, name + ".norm")), 2)
    return F.linear(x.flatten(1), p["classifier.weight"], p.get("classifier.bias"))


def resnet12_forward(x: torch.Tensor, p: OrderedDict) -> torch.Tensor:
    """ResNet-12 with transductive BatchNorm, parameters named like wheretolearn's ResNet12."""
    for i, pool in enumerate(POOLS, start=1):
        name = f"features.layer{i}"
        out = x
        for j in (1, 2, 3):
            out = F.conv2d(out, p[f"{name}.conv{j}.weight"], padding=1)
            out = _bn(out, p, f"{name}.bn{j}")
            out = F.leaky_relu(out) if j < 3 else out
        short = _bn(F.conv2d(x, p[name + ".shortcut_conv.weight"]), p, name + ".shortcut_bn")
        x = F.leaky_relu(out + short)
        if pool is not None:
            x = F.max_pool2d(x, pool[0], pool[0], pool[1])
    return F.linear(x.mean(dim=(2, 3)), p["classifier.weight"], p["classifier.bias"])


def binary_mask(logits: dict, ste_scale: float) -> dict:
    """``1[m >= 0]`` forward, ``ste_scale`` times the identity backward."""
    return {
        n: (m >= 0).to(m.dtype).detach() + ste_scale * (m - m.detach()) for n, m in logits.items()
    }


def reference_step(
    forward, model_params, mask_logits, batch, steps, alpha, ste_scale, evaluation=False
):
    """One meta-training step (accumulates ``.grad``; returns loss and accuracy), or, with
    ``evaluation``, the mean query accuracy of the batch's tasks."""
    outer_loss, accuracy = 0.0, 0.0
    tasks = list(zip(batch.support_x, batch.support_y, batch.query_x, batch.query_y, strict=True))
    for sx, sy, qx, qy in tasks:
        mask = binary_mask(mask_logits, ste_scale)
        params = OrderedDict(model_params)
        for _ in range(steps):
            inner = F.cross_entropy(forward(sx, params), sy)
            grads = torch.autograd.grad(inner, list(params.values()), create_graph=False)
            params = OrderedDict(
                (name, param - alpha * (mask[name] * grad))
                for (name, param), grad in zip(params.items(), grads, strict=True)
            )
        logits = forward(qx, params)
        outer_loss = outer_loss + F.cross_entropy(logits, qy)
        with torch.no_grad():
            accuracy += (logits.argmax(-1) == qy).float().mean().item()
    accuracy /= len(tasks)
    if evaluation:
        return accuracy
    outer_loss.backward()
    return outer_loss.item(), accuracy
