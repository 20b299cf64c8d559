"""Inner-loop and meta-gradient values derived on paper, float64, on a one-input linear model.

The model: logits ``z = w * x + b`` with ``w, b in R^2`` (two classes, one input feature).
Softmax cross-entropy has ``dL/dz = p - onehot(y)``, so ``dL/dw = (p - onehot(y)) * x`` and
``dL/db = p - onehot(y)``. Throughout ``theta = (w, b) = (0, 0)``, alpha = 0.5, and the support
set is the single example ``x = 1, y = 0``. Write ``s = sigmoid``; for two classes with logits
``(a, -a)``, ``p = (s(2a), 1 - s(2a))``.

Step 0: z = (0, 0), p = (1/2, 1/2), g_0 = p - (1, 0) = (-1/2, 1/2) for w and for b.
        phi_1 = 0 - 0.5 * g_0 = (1/4, -1/4) for w and for b.
Step 1: z = w + b = (1/2, -1/2), p = (s(1), 1 - s(1)), g_1 = (s(1) - 1, 1 - s(1)).
        phi_2 = phi_1 - 0.5 * g_1 = (1/4 + (1 - s(1))/2, -(1/4 + (1 - s(1))/2)).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from synthetic import with_example
from wheretolearn.algorithms.episodic import query_logits
from wheretolearn.algorithms.inner_loop import adapt
from wheretolearn.algorithms.rules.base import build_rule

ALPHA = 0.5


def s(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, dtype=torch.float64))
        self.b = nn.Parameter(torch.zeros(2, dtype=torch.float64))

    def forward(self, x, context=None):
        return x * self.w + self.b  # x: [n, 1] -> logits [n, 2]


def support():
    return torch.ones(1, 1, dtype=torch.float64), torch.tensor([0])


def rule_for(model, method):
    return build_rule(with_example(method), model, head=set()).double()


@pytest.mark.parametrize("steps", [1, 2])
def test_maml_inner_steps_match_hand_derivation(steps):
    model = Tiny()
    rule = rule_for(model, {"name": "maml", "alpha": ALPHA})
    phi = adapt(model, rule, dict(model.named_parameters()), *support(), steps)
    expected = 0.25 if steps == 1 else 0.25 + (1 - s(1.0)) / 2
    for name in ("w", "b"):
        torch.testing.assert_close(
            phi[name], torch.tensor([expected, -expected], dtype=torch.float64), rtol=0, atol=1e-15
        )


def test_sparse_maml_meta_gradients_match_hand_derivation():
    """All mask logits +1 (open), K = 2, query ``x = 1, y = 1``.

    phi_2 = (c, -c) for w and b with c = 1/4 + (1 - s(1))/2 (the MAML steps above).
    Query: z = w + b = (2c, -2c), p = (s(4c), 1 - s(4c)), g_out = p - (0, 1) = (s(4c), -s(4c)).
    First-order theta gradient: g_out = (s(4c), -s(4c)) for w and for b.
    Mask gradient (straight-through, scale 1): dL/dm = -alpha * g_out * (g_0 + g_1) with
    g_0 + g_1 = (-1/2 + s(1) - 1, 1/2 + 1 - s(1)) = (-(3/2 - s(1)), 3/2 - s(1)), so
    dL/dm = (alpha * s(4c) * (3/2 - s(1)), alpha * s(4c) * (3/2 - s(1))) for w and for b.
    """
    model = Tiny()
    rule = rule_for(model, {"name": "sparse-maml", "alpha": ALPHA})
    with torch.no_grad():
        for logits in rule.mask_logits.values():
            logits.fill_(1.0)
    phi = adapt(model, rule, dict(model.named_parameters()), *support(), 2)
    query_x, query_y = torch.ones(1, 1, dtype=torch.float64), torch.tensor([1])
    nn.functional.cross_entropy(query_logits(model, phi, None, query_x), query_y).backward()
    c = 0.25 + (1 - s(1.0)) / 2
    g_theta = torch.tensor([s(4 * c), -s(4 * c)], dtype=torch.float64)
    g_mask = ALPHA * s(4 * c) * (1.5 - s(1.0))
    for name in ("w", "b"):
        torch.testing.assert_close(getattr(model, name).grad, g_theta, rtol=0, atol=1e-15)
        torch.testing.assert_close(
            rule.mask_logits[name].grad,
            torch.full((2,), g_mask, dtype=torch.float64),
            rtol=0,
            atol=1e-15,
        )


def test_second_order_maml_matches_finite_differences():
    """Second-order MAML's theta gradient is the exact derivative of the adapted loss."""
    torch.manual_seed(0)
    model = Tiny()
    with torch.no_grad():
        model.w.copy_(torch.tensor([0.3, -0.2], dtype=torch.float64))
    rule = rule_for(model, {"name": "maml", "alpha": ALPHA})
    x, y = torch.tensor([[1.0], [-2.0]], dtype=torch.float64), torch.tensor([0, 1])

    def outer(w):
        phi = adapt(model, rule, {"w": w, "b": model.b}, x, y, 2, first_order=False)
        return nn.functional.cross_entropy(x * phi["w"] + phi["b"], 1 - y)

    w = model.w.detach().clone().requires_grad_()
    (grad,) = torch.autograd.grad(outer(w), w)
    eps = 1e-6

    def shifted(delta):  # the inner loop differentiates w.r.t. w, so it must require grad
        return (w.detach() + delta).requires_grad_()

    numeric = torch.stack(
        [
            (outer(shifted(eps * e)) - outer(shifted(-eps * e))) / (2 * eps)
            for e in torch.eye(2, dtype=torch.float64)
        ]
    )
    torch.testing.assert_close(grad, numeric.detach(), rtol=1e-7, atol=1e-9)
