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


# ----------------------------------------------------------------------------------------
# Facts about a spec, for the Targets and Analyses: generated from the layers, never typed.

MNIST_SIZE = 28  # pixels per side of an input image


@dataclass(frozen=True)
class Place:
    """A layer of a spec with what it sees: the map size it produces and its receptive
    field (stride-1 convolutions, pools of stride = kernel)."""

    layer: Layer
    index: int
    size: int  # side of the output map, in pixels
    field: int  # side of the receptive field of one output, in input pixels
    after_pool: bool  # a max-pool comes before it


def walk(spec: tuple[Layer, ...], size: int = MNIST_SIZE) -> list[Place]:
    places, field, jump, pooled = [], 1, 1, False
    for index, layer in enumerate(spec):
        if isinstance(layer, Conv):
            size = size - layer.kernel + 1 + 2 * layer.padding
            field += (layer.kernel - 1) * jump
        elif isinstance(layer, MaxPool):
            size //= layer.kernel
            field += (layer.kernel - 1) * jump
            jump *= layer.kernel
        else:
            size = 1
        places.append(Place(layer, index, size, field, pooled))
        pooled = pooled or isinstance(layer, MaxPool)
    return places


def convs(spec: tuple[Layer, ...], kernel: int | None = None, after_pool: bool | None = None,
          depthwise: bool = False) -> list[Place]:
    """The convolutions of a spec (the classifier, which makes the logits, excluded), of
    one kernel size and one side of the pool when given."""
    return [p for p in walk(spec) if isinstance(p.layer, Conv) and p.layer.relu
            and (kernel is None or p.layer.kernel == kernel)
            and (after_pool is None or p.after_pool == after_pool)
            and p.layer.depthwise == depthwise]


def widths(places: list[Place]) -> str:
    """Their output channels, "8-10"."""
    return "-".join(str(p.layer.out_channels) for p in places)


def classifier(spec: tuple[Layer, ...]) -> Place:
    """The last convolution, which makes the ten logits."""
    return [p for p in walk(spec) if isinstance(p.layer, Conv)][-1]


def map_before(spec: tuple[Layer, ...], place: Place) -> int:
    """The map size entering a layer."""
    return walk(spec)[place.index - 1].size if place.index else MNIST_SIZE


def before_gap(spec: tuple[Layer, ...]) -> Place:
    """The layer the global average pool (or the classifier kernel) reads."""
    places = walk(spec)
    gap = next((p for p in places if isinstance(p.layer, GlobalAvgPool)), None)
    return places[(gap or classifier(spec)).index - 1]


NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}


def in_words(count: int) -> str:
    return NUMBERS.get(count, str(count))
