"""Building blocks: a fully convolutional network described as data (torch-free).

A course model is a tuple of layer specs. Writing models as data, not as copied
``nn.Module`` classes, lets each model be its predecessor plus exactly the change its
Target names (``dataclasses.replace`` on the previous spec), and lets the site print
what changed between two models. :mod:`mnist_course.models.network` turns a spec into
an ``nn.Module``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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
    # One kernel per input channel (groups = input channels); a 1x1 convolution after it
    # mixes the channels. Together they cost k*k*C + C*C' weights instead of k*k*C*C'.
    depthwise: bool = False


@dataclass(frozen=True)
class MaxPool:
    """2x2 max pooling: halves the resolution and doubles the receptive-field jump."""

    kernel: int = 2


@dataclass(frozen=True)
class GlobalAvgPool:
    """Averages each channel over the whole map: (B, C, H, W) -> (B, C, 1, 1)."""


Layer = Conv | MaxPool | GlobalAvgPool


# Layer fields added after the first course runs, with the value that builds the layers
# they had before. At that value they stay out of the JSON (and so out of every cache key),
# so adding an option does not make the stored runs of older models look stale.
FIELDS_ADDED_LATER = {"depthwise": False}


def conv_parameters(kernel: int, in_channels: int, out_channels: int, depthwise: bool = False,
                    batch_norm: bool = False) -> int:
    """Trainable parameters of one convolution of the spec (batch norm's own not counted):
    a kernel x kernel weight per input channel it reads (one for a depthwise convolution)
    and output channel, and a bias per output channel unless batch norm follows."""
    inputs = 1 if depthwise else in_channels
    return kernel * kernel * inputs * out_channels + (0 if batch_norm else out_channels)


def spec_to_json(spec: tuple[Layer, ...]) -> list[dict]:
    """A JSON-ready description of a spec: the layer type plus its fields."""
    return [{"type": type(layer).__name__,
             **{name: value for name, value in dataclasses.asdict(layer).items()
                if not (name in FIELDS_ADDED_LATER and value == FIELDS_ADDED_LATER[name])}}
            for layer in spec]


def describe_layer(layer: Layer) -> str:
    """One short human line for a layer spec, used in the 'what changed' tables."""
    if isinstance(layer, Conv):
        extras = [e for e, on in (("BN", layer.batch_norm), ("ReLU", layer.relu)) if on]
        if layer.dropout:
            extras.append(f"dropout {layer.dropout:g}")
        pad = f", pad {layer.padding}" if layer.padding else ""
        tail = " + " + " + ".join(extras) if extras else ""
        kind = "depthwise conv" if layer.depthwise else "conv"
        return f"{kind} {layer.kernel}x{layer.kernel} → {layer.out_channels}{pad}{tail}"
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


def with_widths(spec: tuple[Layer, ...], widths: dict[int, int]) -> tuple[Layer, ...]:
    """``spec`` with the convolutions at these places (index -> output channels) made
    narrower or wider; every other layer, and every other field, stays as it is."""
    for index in widths:
        if not isinstance(spec[index], Conv):
            raise ValueError(f"layer {index} of the spec is {spec[index]!r}, not a convolution")
    return tuple(dataclasses.replace(layer, out_channels=widths[i]) if i in widths else layer
                 for i, layer in enumerate(spec))
