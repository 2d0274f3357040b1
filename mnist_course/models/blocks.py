"""Building blocks: a fully convolutional network described as data.

A course model is a tuple of layer specs. Writing models as data, not as copied
``nn.Module`` classes, lets each model be its predecessor plus exactly the change its
Target names (``dataclasses.replace`` on the previous spec), and lets the site print
what changed between two models.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Union

import torch
from torch import nn


@dataclass(frozen=True)
class Conv:
    """A convolution, optionally followed by batch norm, ReLU and dropout.

    ``relu=False`` marks the classifier convolution that produces the 10 logits.
    """

    out_channels: int
    kernel: int = 3
    padding: int = 0
    batch_norm: bool = False
    relu: bool = True
    dropout: float = 0.0  # probability; 2-D dropout would drop whole channels, too coarse here


@dataclass(frozen=True)
class MaxPool:
    """2x2 max pooling: halves the resolution and doubles the receptive-field jump."""

    kernel: int = 2


@dataclass(frozen=True)
class GlobalAvgPool:
    """Averages each channel over the whole map: (B, C, H, W) -> (B, C, 1, 1)."""


Layer = Union[Conv, MaxPool, GlobalAvgPool]


class CourseNet(nn.Module):
    """A plain feed-forward stack of the layers in ``spec``, ending in 10 log-probabilities.

    There is no ``nn.Linear``: the classifier is a convolution whose output is (B, 10, 1, 1).
    """

    def __init__(self, spec: tuple[Layer, ...], in_channels: int = 1):
        super().__init__()
        self.spec = spec
        self.layers = nn.Sequential()
        channels = in_channels
        counters = {"conv": 0, "pool": 0}
        for layer in spec:
            if isinstance(layer, Conv):
                counters["conv"] += 1
                n = counters["conv"]
                # A convolution followed by batch norm needs no bias: BN's shift replaces it.
                self.layers.add_module(
                    f"conv{n}",
                    nn.Conv2d(channels, layer.out_channels, layer.kernel, padding=layer.padding,
                              bias=not layer.batch_norm),
                )
                if layer.batch_norm:
                    self.layers.add_module(f"bn{n}", nn.BatchNorm2d(layer.out_channels))
                if layer.relu:
                    self.layers.add_module(f"relu{n}", nn.ReLU(inplace=True))
                if layer.dropout:
                    self.layers.add_module(f"drop{n}", nn.Dropout(layer.dropout))
                channels = layer.out_channels
            elif isinstance(layer, MaxPool):
                counters["pool"] += 1
                self.layers.add_module(f"pool{counters['pool']}", nn.MaxPool2d(layer.kernel))
            elif isinstance(layer, GlobalAvgPool):
                self.layers.add_module("gap", nn.AdaptiveAvgPool2d(1))
            else:
                raise TypeError(f"unknown layer spec {layer!r}")
        if channels != 10:
            raise ValueError(f"the last convolution must produce 10 channels, not {channels}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 28, 28) normalised images
        x = self.layers(x)  # (B, 10, 1, 1) when the spec reduces the map to one pixel
        if x.shape[-2:] != (1, 1):
            raise RuntimeError(
                f"the network ends on a {tuple(x.shape[-2:])} map; its last layer must reduce "
                "the map to 1x1 (a kernel the size of the map, or global average pooling)"
            )
        return torch.log_softmax(x.flatten(1), dim=1)  # (B, 10)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, the number the < 8,000 budget is about."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def has_linear_layer(model: nn.Module) -> bool:
    """True when any submodule is a fully connected layer (the assignment forbids them)."""
    return any(isinstance(m, nn.Linear) for m in model.modules())


def spec_to_json(spec: tuple[Layer, ...]) -> list[dict]:
    """A JSON-ready description of a spec: the layer type plus its fields."""
    return [{"type": type(layer).__name__, **dataclasses.asdict(layer)} for layer in spec]


def describe_layer(layer: Layer) -> str:
    """One short human line for a layer spec, used in the 'what changed' tables."""
    if isinstance(layer, Conv):
        extras = [e for e, on in (("BN", layer.batch_norm), ("ReLU", layer.relu)) if on]
        if layer.dropout:
            extras.append(f"dropout {layer.dropout:g}")
        pad = f", pad {layer.padding}" if layer.padding else ""
        tail = " + " + " + ".join(extras) if extras else ""
        return f"conv {layer.kernel}x{layer.kernel} → {layer.out_channels}{pad}{tail}"
    if isinstance(layer, MaxPool):
        return f"max-pool {layer.kernel}x{layer.kernel}"
    return "global average pool"


def with_batch_norm(spec: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Batch norm after every convolution except the classifier (its logits stay raw)."""
    return tuple(
        dataclasses.replace(layer, batch_norm=True)
        if isinstance(layer, Conv) and layer.relu else layer
        for layer in spec
    )


def with_dropout(spec: tuple[Layer, ...], probability: float) -> tuple[Layer, ...]:
    """Dropout after every hidden convolution (not the classifier)."""
    return tuple(
        dataclasses.replace(layer, dropout=probability)
        if isinstance(layer, Conv) and layer.relu else layer
        for layer in spec
    )
