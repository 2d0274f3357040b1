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
    # Pixels the kernel moves per output: 2 halves the map, like a max-pool, but learns how.
    stride: int = 1
    # A k x 1 convolution, then a 1 x k one: the same k x k window for 2k weights per
    # channel pair (k*C*C' + k*C'*C') instead of k*k.
    factorised: bool = False
    # Batch norm's learnt scale (gamma). Without it the normalised channel keeps unit
    # variance and only the shift (beta) trains: half of batch norm's parameters.
    batch_norm_scale: bool = True
    # Batch norm's learnt scale and shift both. Without them the next layer absorbs them
    # (a linear layer that follows can scale and shift any input itself).
    batch_norm_affine: bool = True
    # Reuse the convolution weights of the spec's layer at this index (its own batch norm):
    # depth without parameters. The two must read and write the same channels.
    shares: int | None = None
    # Start from the identity (each output channel copies its input channel) plus the He
    # noise: at the start the block passes the image through, and learns a change to it.
    identity_init: bool = False


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
FIELDS_ADDED_LATER = {"depthwise": False, "stride": 1, "factorised": False,
                      "batch_norm_scale": True, "batch_norm_affine": True, "shares": None,
                      "identity_init": False}


def conv_parameters(kernel: int, in_channels: int, out_channels: int, depthwise: bool = False,
                    batch_norm: bool = False, factorised: bool = False,
                    shared: bool = False) -> int:
    """Trainable parameters of one convolution of the spec (batch norm's own not counted):
    a kernel x kernel weight per input channel it reads (one for a depthwise convolution)
    and output channel, and a bias per output channel unless batch norm follows. A
    factorised convolution is a k x 1 then a 1 x k one (the second reads the first's
    channels); a convolution that shares another's weights adds none of its own."""
    inputs = 1 if depthwise else in_channels
    if shared:
        weights = 0
    elif factorised:
        weights = kernel * inputs * out_channels + kernel * (1 if depthwise else out_channels) \
            * out_channels
    else:
        weights = kernel * kernel * inputs * out_channels
    return weights + (0 if batch_norm else out_channels)


def batch_norm_parameters(layer: Conv) -> int:
    """Trainable parameters of a convolution's batch norm: a scale and a shift per channel,
    the shift alone without the scale, none without either (or without batch norm)."""
    if not (layer.batch_norm and layer.batch_norm_affine):
        return 0
    return layer.out_channels * (2 if layer.batch_norm_scale else 1)


def spec_parameters(spec: tuple[Layer, ...], in_channels: int = 1) -> int:
    """Trainable parameters of a whole spec, counted from its layers alone (torch-free);
    equal to the parameter count of the network it builds."""
    channels, total = in_channels, 0
    for layer in spec:
        if isinstance(layer, Conv):
            total += conv_parameters(layer.kernel, channels, layer.out_channels, layer.depthwise,
                                     layer.batch_norm, layer.factorised,
                                     shared=layer.shares is not None)
            total += batch_norm_parameters(layer)
            channels = layer.out_channels
    return total


def spec_to_json(spec: tuple[Layer, ...]) -> list[dict]:
    """A JSON-ready description of a spec: the layer type plus its fields."""
    return [{"type": type(layer).__name__,
             **{name: value for name, value in dataclasses.asdict(layer).items()
                if not (name in FIELDS_ADDED_LATER and value == FIELDS_ADDED_LATER[name])}}
            for layer in spec]


def describe_layer(layer: Layer) -> str:
    """One short human line for a layer spec, used in the 'what changed' tables."""
    if isinstance(layer, Conv):
        norm = ("BN" if layer.batch_norm_affine and layer.batch_norm_scale else
                "BN (shift only)" if layer.batch_norm_affine else "BN (no scale or shift)")
        extras = [e for e, on in ((norm, layer.batch_norm), ("ReLU", layer.relu)) if on]
        if layer.dropout:
            extras.append(f"dropout {layer.dropout:g}")
        pad = f", pad {layer.padding}" if layer.padding else ""
        tail = " + " + " + ".join(extras) if extras else ""
        kind = "depthwise conv" if layer.depthwise else "conv"
        if layer.factorised:
            kind = f"factorised {kind} {layer.kernel}x1 + 1x{layer.kernel}"
        else:
            kind = f"{kind} {layer.kernel}x{layer.kernel}"
        stride = f", stride {layer.stride}" if layer.stride != 1 else ""
        shared = f", weights of layer {layer.shares}" if layer.shares is not None else ""
        return f"{kind} → {layer.out_channels}{pad}{stride}{shared}{tail}"
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
    field (pools of stride = kernel)."""

    layer: Layer
    index: int
    size: int  # side of the output map, in pixels
    field: int  # side of the receptive field of one output, in input pixels
    after_pool: bool  # a max-pool comes before it


def walk(spec: tuple[Layer, ...], size: int = MNIST_SIZE) -> list[Place]:
    places, field, jump, pooled = [], 1, 1, False
    for index, layer in enumerate(spec):
        if isinstance(layer, Conv):
            size = (size + 2 * layer.padding - layer.kernel) // layer.stride + 1
            field += (layer.kernel - 1) * jump
            jump *= layer.stride
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
