"""A course model as the PyTorch a student would write, and its recipe as the call that
trains it: source text generated from the layer spec, torch-free.

The course writes its models as data (:mod:`mnist_course.models.blocks`); a reader wants
the network as plain ``torch.nn`` code to paste into an assignment. :func:`pytorch_source`
writes it as one ``nn.Sequential`` with the map size and receptive field after each
layer in a comment, and :func:`recipe_source` writes the training recipe as the
``mc.Recipe(...)`` call. Both are text: the report shows them and never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mnist_course.course.recipe import Recipe
from mnist_course.models.blocks import (
    Conv,
    GlobalAvgPool,
    Layer,
    MaxPool,
    batch_norm_parameters,
    conv_parameters,
)

if TYPE_CHECKING:
    from mnist_course.models import CourseModel

INPUT_SIZE = 28  # MNIST images are 28x28
INPUT_CHANNELS = 1  # grey
CLASSES = 10
LINE_LENGTH = 88  # a recipe call longer than this is written one argument per line

HE_INIT = '''
# He initialisation, as the course trains every model: PyTorch's default shrinks the
# signal at every layer, and a deep stack without batch norm then does not learn.
for module in model.modules():
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
'''


@dataclass
class _Walk:
    """Where the forward pass is: channels, map size and receptive field (along one side)."""

    channels: int = INPUT_CHANNELS
    size: int = INPUT_SIZE
    jump: int = 1  # input pixels between neighbouring outputs
    rf: int = 1  # input pixels one output can see
    params: int = 0


def _conv_lines(layer: Conv, walk: _Walk, index: int) -> list[tuple[str, str]]:
    """The modules of one convolution layer, each with its comment ('' for none)."""
    groups = walk.channels if layer.depthwise else 1
    if layer.out_channels % groups:
        raise ValueError(f"layer {index}: a depthwise convolution over {walk.channels} "
                         f"channels needs a multiple of {walk.channels} outputs, not "
                         f"{layer.out_channels}")
    if layer.shares is not None:
        raise ValueError(f"layer {index}: shared weights need code beyond one "
                         "nn.Sequential; see mnist_course.models.network.CourseNet")
    if layer.identity_init and layer.factorised:
        raise ValueError(f"layer {index}: an identity start of a factorised convolution is "
                         "written only by mnist_course.models.network.CourseNet")
    size = (walk.size + 2 * layer.padding - layer.kernel) // layer.stride + 1
    if size < 1:
        raise ValueError(f"layer {index}: a {layer.kernel}x{layer.kernel} kernel does not fit "
                         f"the {walk.size}x{walk.size} map")
    rf = walk.rf + (layer.kernel - 1) * walk.jump
    comment = f"{walk.size} -> {size}, RF {rf}"
    if groups > 1:
        comment += "; depthwise: one kernel per channel"
    if layer.factorised:
        lines = _factorised_lines(layer, walk.channels, groups)
        lines[-1] = (lines[-1][0], comment)
    else:
        arguments = [str(walk.channels), str(layer.out_channels), f"kernel_size={layer.kernel}"]
        if layer.stride != 1:
            arguments.append(f"stride={layer.stride}")
        if layer.padding:
            arguments.append(f"padding={layer.padding}")
        if groups > 1:
            arguments.append(f"groups={groups}")
        if layer.batch_norm:  # batch norm's shift does the bias's job
            arguments.append("bias=False")
        lines = [(f"nn.Conv2d({', '.join(arguments)}),", comment)]
    walk.params += conv_parameters(layer.kernel, walk.channels, layer.out_channels,
                                   groups > 1, layer.batch_norm, layer.factorised)
    if layer.batch_norm:
        affine = "" if layer.batch_norm_affine else ", affine=False"
        lines.append((f"nn.BatchNorm2d({layer.out_channels}{affine}),",
                      "" if layer.batch_norm_scale or not layer.batch_norm_affine else
                      "scale fixed at 1: set .weight.requires_grad_(False)"))
        walk.params += batch_norm_parameters(layer)
    if layer.relu:
        lines.append(("nn.ReLU(),", ""))
    if layer.dropout:
        lines.append((f"nn.Dropout({layer.dropout!r}),", ""))
    walk.channels, walk.size, walk.rf = layer.out_channels, size, rf
    walk.jump *= layer.stride
    return lines


def _factorised_lines(layer: Conv, channels: int, groups: int) -> list[tuple[str, str]]:
    """A k x 1 then a 1 x k convolution, which together see the k x k window."""
    k, s, p, out = layer.kernel, layer.stride, layer.padding, layer.out_channels
    first = [str(channels), str(out), f"kernel_size=({k}, 1)"]
    second = [str(out), str(out), f"kernel_size=(1, {k})"]
    if s != 1:
        first.append(f"stride=({s}, 1)")
        second.append(f"stride=(1, {s})")
    if p:
        first.append(f"padding=({p}, 0)")
        second.append(f"padding=(0, {p})")
    if groups > 1:
        first.append(f"groups={groups}")
        second.append(f"groups={out}")
    first.append("bias=False")
    if layer.batch_norm:
        second.append("bias=False")
    return [(f"nn.Conv2d({', '.join(first)}),", ""),
            (f"nn.Conv2d({', '.join(second)}),", "")]


def _layer_lines(spec: tuple[Layer, ...]) -> tuple[list[tuple[str, str]], _Walk]:
    """Every module of ``spec`` as (code, comment), and where the forward pass ends."""
    walk = _Walk()
    lines: list[tuple[str, str]] = []
    for index, layer in enumerate(spec, start=1):
        if isinstance(layer, Conv):
            lines += _conv_lines(layer, walk, index)
        elif isinstance(layer, MaxPool):
            size = walk.size // layer.kernel
            rf = walk.rf + (layer.kernel - 1) * walk.jump
            lines.append((f"nn.MaxPool2d({layer.kernel}),", f"{walk.size} -> {size}, RF {rf}"))
            walk.size, walk.rf, walk.jump = size, rf, walk.jump * layer.kernel
        elif isinstance(layer, GlobalAvgPool):
            # One window as large as the map: the field grows by the whole map.
            rf = walk.rf + (walk.size - 1) * walk.jump
            lines.append(("nn.AdaptiveAvgPool2d(1),",
                          f"{walk.size} -> 1, RF {rf}: global average pooling"))
            walk.size, walk.rf = 1, rf
        else:
            raise TypeError(f"layer {index}: unknown layer spec {layer!r}")
    if walk.channels != CLASSES or walk.size != 1:
        raise ValueError(f"the network must end in {CLASSES} channels on a 1x1 map, not "
                         f"{walk.channels} on {walk.size}x{walk.size}")
    return lines, walk


IDENTITY_START = '''
# Identity starts: these convolutions begin as the identity (each channel's centre tap 1)
# plus the He noise above, so at first they pass their input through.
with torch.no_grad():
    for index in {indices}:
        conv = model[index]
        identity = torch.zeros_like(conv.weight)
        nn.init.dirac_(identity, groups=conv.groups)
        conv.weight.add_(identity)
'''


def _identity_start(spec: tuple[Layer, ...], lines: list[tuple[str, str]]) -> str:
    """The code that adds the identity to the convolutions with an identity start, by their
    index in the ``nn.Sequential``; '' when none has one."""
    convolutions = [layer for layer in spec if isinstance(layer, Conv)]
    if not any(layer.identity_init for layer in convolutions):
        return ""
    positions = iter(i for i, (code, _) in enumerate(lines) if code.startswith("nn.Conv2d("))
    starts = []
    for layer in convolutions:  # a factorised convolution is two Conv2d lines
        first = [next(positions) for _ in range(2 if layer.factorised else 1)][0]
        if layer.identity_init:
            starts.append(first)
    return IDENTITY_START.format(indices=tuple(starts) if len(starts) > 1 else f"({starts[0]},)")


def pytorch_source(model: CourseModel) -> str:
    """``model``'s network as plain PyTorch a student can paste and run.

    The text imports ``torch.nn`` and defines ``model``: an ``nn.Sequential`` of
    ``Conv2d`` (no bias when batch norm follows), ``BatchNorm2d``, ``ReLU``, ``Dropout``,
    ``MaxPool2d`` and ``AdaptiveAvgPool2d`` layers, each convolution and pooling commented
    with the map size before and after it and the receptive field after it
    (``# 28 -> 26, RF 3``), ending in ``Flatten`` and ``LogSoftmax`` exactly as the
    course's network does; then the He initialisation the course trains with. The
    network has the same layers, parameter count and output as ``model.network()``.

    A spec that cannot end in 10 log-probabilities (a wrong channel count, a map left
    larger than 1x1) raises :class:`ValueError`.
    """
    lines, walk = _layer_lines(model.architecture)
    identity = _identity_start(model.architecture, lines)
    lines += [("nn.Flatten(),", f"(batch, {CLASSES}, 1, 1) -> (batch, {CLASSES})"),
              ("nn.LogSoftmax(dim=1),", "log-probabilities, one per digit")]
    width = max(len(code) for code, _ in lines)
    body = "\n".join(f"    {code:<{width}}  # {comment}" if comment else f"    {code}"
                     for code, comment in lines)
    header = (f"# {model.id}: {model.title}. {walk.params:,} trainable parameters.\n"
              f"# Comments: the map's side before -> after the layer ({INPUT_SIZE} for the "
              "image), and the\n# receptive field (RF): how many input pixels, along a "
              "side, one output value sees.")
    loss = ("# Train it with nn.NLLLoss() (F.nll_loss): it outputs log-probabilities already."
            "\n# nn.CrossEntropyLoss (F.cross_entropy) gives the same loss on them.")
    imports = "import torch\nfrom torch import nn" if identity else "from torch import nn"
    return (f"{imports}\n\n{header}\nmodel = nn.Sequential(\n{body}\n)\n"
            f"{loss}\n{HE_INIT}{identity}")


def float_literal(value: float) -> str:
    """A float as code writes it: ``0.1``, ``7.0``, and small ones as ``1e-3``, ``5e-4``."""
    if value and abs(value) < 1e-2:
        for digits in range(17):  # the shortest mantissa that reads back as this value
            text = f"{value:.{digits}e}"
            if float(text) == value:
                mantissa, exponent = text.split("e")
                return f"{mantissa}e{int(exponent)}"
    return repr(value)


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return float_literal(value)
    if isinstance(value, str):
        return json.dumps(value)  # double quotes, as the course's code writes strings
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _call(value, single_line=True)
    raise TypeError(f"cannot write {value!r} as source")


def _changed_fields(value: object) -> list[str]:
    """``name=value`` for each field of a dataclass instance that differs from its default."""
    arguments = []
    for item in dataclasses.fields(value):
        default = (item.default_factory() if item.default_factory is not dataclasses.MISSING
                   else item.default)
        current = getattr(value, item.name)
        if current != default:
            arguments.append(f"{item.name}={_literal(current)}")
    return arguments


def _call(value: object, single_line: bool = False) -> str:
    """``mc.Name(...)`` with the non-default fields; over :data:`LINE_LENGTH`, one per line."""
    name = f"mc.{type(value).__name__}"
    arguments = _changed_fields(value)
    one_line = f"{name}({', '.join(arguments)})"
    if single_line or len(one_line) <= LINE_LENGTH:
        return one_line
    return name + "(\n" + "".join(f"    {argument},\n" for argument in arguments) + ")"


def recipe_source(recipe: Recipe) -> str:
    """``recipe`` as the ``mc.Recipe(...)`` call that makes it (``import mnist_course as
    mc``): only the fields that differ from their defaults, in the order ``Recipe``
    declares them, the augmentation as an ``mc.Augmentation(...)`` call, numbers written
    as code writes them (``lr=0.1``, ``weight_decay=1e-3``, ``bn_recalibration=10_000``).
    The default recipe is ``mc.Recipe()``. Evaluating the text gives an equal recipe.
    """
    return _call(recipe)


__all__ = ["pytorch_source", "recipe_source"]
