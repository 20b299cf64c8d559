"""Backbones: shapes, parameter names, options, and what each BatchNorm mode may look at."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from wheretolearn.config import ModelConfig
from wheretolearn.models import build_model, head_names


@pytest.mark.parametrize(
    ("size", "channels", "widths"),
    [
        ("small", 3, (64, 128, 256, 512)),
        ("large", 3, (64, 160, 320, 640)),
    ],
)
def test_resnet12_sizes_and_output(size, channels, widths):
    model = build_model(
        ModelConfig(name="resnet12", size=size), channels=channels, image_size=84, ways=5
    )
    convs = [p.shape[0] for n, p in model.named_parameters() if n.endswith("conv3.weight")]
    assert tuple(convs) == widths
    assert model(torch.randn(2, channels, 84, 84)).shape == (2, 5)
    assert head_names(model) == {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize(("image_size", "features"), [(84, 64 * 5 * 5), (28, 64)])
def test_conv4_feature_size_and_names(image_size, features):
    model = build_model(ModelConfig(), channels=3, image_size=image_size, ways=5)
    assert model.classifier.in_features == features
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == [
        "features.layer1.conv.weight",
        "features.layer1.conv.bias",
        "features.layer1.norm.weight",
        "features.layer1.norm.bias",
    ]
    assert model(torch.randn(3, 3, image_size, image_size)).shape == (3, 5)


def test_conv4_width_and_bias_options():
    model = build_model(ModelConfig(hidden=16, bias=False), channels=1, image_size=28, ways=5)
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.endswith("conv.bias") for n in names) and "classifier.bias" not in names
    assert model.features["layer2"].conv.weight.shape == (16, 16, 3, 3)


def _query_logits(transductive: bool, query: torch.Tensor, support: torch.Tensor):
    torch.manual_seed(0)
    mode = "transductive" if transductive else "non-transductive"
    model = build_model(
        ModelConfig(hidden=8, batchnorm=mode), channels=1, image_size=16, ways=3
    ).double()
    return functional_call(model, dict(model.named_parameters()), (query,), {"context": support})


def test_non_transductive_batchnorm_uses_support_statistics_only():
    g = torch.Generator().manual_seed(0)
    support = torch.randn(6, 1, 16, 16, generator=g, dtype=torch.float64)
    query = torch.randn(4, 1, 16, 16, generator=g, dtype=torch.float64)
    other = query.clone()
    other[1:] = 10 * torch.randn(3, 1, 16, 16, generator=g, dtype=torch.float64)
    # non-transductive: a query example's logits do not depend on the other query examples
    a, b = _query_logits(False, query, support), _query_logits(False, other, support)
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-12)
    # transductive: they do (the query batch is normalised with its own statistics)
    a, b = _query_logits(True, query, support), _query_logits(True, other, support)
    assert not torch.allclose(a[0], b[0])
