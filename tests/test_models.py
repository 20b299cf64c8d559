"""Backbones: shapes, parameter names, options, and what each BatchNorm mode may look at."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call

from synthetic import model_config
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
        model_config(name="resnet12", size=size), channels=channels, image_size=84, ways=5
    )
    convs = [p.shape[0] for n, p in model.named_parameters() if n.endswith("conv3.weight")]
    assert tuple(convs) == widths
    assert model(torch.randn(2, channels, 84, 84)).shape == (2, 5)
    assert head_names(model) == {"classifier.weight", "classifier.bias"}


@pytest.mark.parametrize(("image_size", "features"), [(84, 64 * 5 * 5), (28, 64)])
def test_conv4_feature_size_and_names(image_size, features):
    model = build_model(model_config(), channels=3, image_size=image_size, ways=5)
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
    model = build_model(model_config(hidden=16, bias=False), channels=1, image_size=28, ways=5)
    names = {n for n, _ in model.named_parameters()}
    assert not any(n.endswith("conv.bias") for n in names) and "classifier.bias" not in names
    assert model.features["layer2"].conv.weight.shape == (16, 16, 3, 3)


def _query_logits(transductive: bool, query: torch.Tensor, support: torch.Tensor):
    torch.manual_seed(0)
    mode = "transductive" if transductive else "non-transductive"
    model = build_model(
        model_config(hidden=8, batchnorm=mode), channels=1, image_size=16, ways=3
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


def _textbook_conv_block(block, x):
    return torch.nn.functional.max_pool2d(torch.relu(block.norm(block.conv(x), None)), 2)


def _textbook_residual_block(block, x):
    act = torch.nn.functional.leaky_relu
    out = act(block.bn1(block.conv1(x), None))
    out = act(block.bn2(block.conv2(out), None))
    out = block.bn3(block.conv3(out), None)
    out = act(out + block.shortcut_bn(block.shortcut_conv(x), None))
    size, padding = block.pool
    return torch.nn.functional.max_pool2d(out, size, size, padding)


@pytest.mark.parametrize("kind", ["conv4", "resnet12"])
def test_activation_after_pooling_is_bitwise_the_textbook_order(kind):
    """The blocks apply their activation after max-pooling; values and every gradient must be
    the same bits as activation-then-pooling, ties included (blank image regions give equal
    pre-activations, whole windows below zero, and padded windows on odd sizes)."""
    torch.manual_seed(0)
    if kind == "conv4":
        model = build_model(model_config(), channels=1, image_size=28, ways=5)
        block, textbook = model.features.layer1, _textbook_conv_block
        x = torch.zeros(4, 1, 28, 28)
        x[:, :, 8:20, 6:22] = torch.randn(4, 1, 12, 16)
    else:
        model = build_model(model_config(name="resnet12"), channels=3, image_size=84, ways=5)
        block, textbook = model.features.layer3, _textbook_residual_block  # pools 21 -> 11
        x = torch.zeros(2, 128, 21, 21)
        x[:, :, 4:15, 3:17] = torch.randn(2, 128, 11, 14)
    with torch.no_grad():
        for p in block.parameters():
            if p.dim() == 1:  # BatchNorm scales of both signs: the pooling sees reversed orders
                p.copy_(torch.randn_like(p))
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    params = list(block.parameters())
    outputs, grads = [], []
    for forward in (lambda: block(x, None), lambda: textbook(block, x)):
        y = forward()
        outputs.append(y)
        weights = torch.randn_like(y, generator=torch.Generator().manual_seed(1))
        grads.append(torch.autograd.grad((y * weights).sum(), [x, *params]))
    assert (outputs[0] <= 0).any() and (outputs[0] > 0).any()
    assert torch.equal(outputs[0], outputs[1])
    for ours, theirs in zip(*grads, strict=True):
        assert torch.equal(ours, theirs)
