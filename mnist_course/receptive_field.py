"""The receptive-field table of a convolutional network, measured on a real forward pass.

:func:`receptive_field` runs one dummy image through the model with forward hooks on
every leaf module, so the rows come in the order the forward pass really runs them —
for ``nn.Sequential`` and hand-written ``forward`` methods alike. Each layer that can
change the field (convolution, pooling, global pooling) gets a row::

    k' = d (k - 1) + 1                                  effective kernel
    size_out = floor((size_in + 2 p - k') / s) + 1
    jump_out = jump_in * s                              pixels between neighbouring outputs
    rf_out   = rf_in + (k' - 1) * jump_in               input pixels one output can see

starting from ``size`` = input height, ``jump`` = 1 and ``rf`` = 1.

The table describes one path. A model with branches (a skip connection, a
squeeze-and-excitation gate: any layer whose input is computed from more than the
previous spatial layer's output) is refused with a :class:`UsageError`, never given a
table that is silently wrong. Branches are found from the autograd graph of the dummy
pass: it records exactly which tensors each layer's input was computed from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import UsageError
from .layers import probe

HEIGHT_AXIS_NOTE = (
    "Kernel, stride, padding, dilation, sizes, jumps and receptive fields are given along "
    "the height axis; for square kernels and square images the width is the same."
)

# Pooling modules whose window is described by kernel_size, stride, padding (and dilation).
_WINDOW_POOLS = (nn.MaxPool2d, nn.AvgPool2d)
_ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
# Leaf modules that only reshape: the spatial part of the network ends at them.
_RESHAPES = (nn.Flatten, nn.Unflatten)


@dataclass
class _Call:
    """What a hook saw when one leaf module ran."""

    name: str
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_node: Any  # autograd node that produced the input (None: not from the image)
    output_node: Any  # autograd node that produced the output


def _height(value: int | tuple[int, ...]) -> int:
    """The height component of an int-or-pair module attribute."""
    return int(value[0]) if isinstance(value, tuple | list) else int(value)


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, tuple | list) and value and isinstance(value[0], torch.Tensor):
        return value[0]  # e.g. MaxPool2d(return_indices=True) returns (values, indices)
    return None


def _record_calls(model: nn.Module, input_size: tuple[int, ...]) -> tuple[list[_Call], Any]:
    """Run one dummy image through ``model`` and record every leaf module call in order.

    Returns the calls and the autograd node standing for the image itself.
    """
    calls: list[_Call] = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: Any) -> None:
            tensor_in = _first_tensor(inputs)
            tensor_out = _first_tensor(output)
            if tensor_in is None or tensor_out is None:
                return
            # The nodes are read now: an in-place op later (ReLU(inplace=True)) moves them.
            calls.append(_Call(name, module, tuple(tensor_in.shape), tuple(tensor_out.shape),
                               tensor_in.grad_fn, tensor_out.grad_fn))
        return record

    leaves = [(name, m) for name, m in model.named_modules() if not any(m.children())]
    handles = [m.register_forward_hook(hook(name)) for name, m in leaves]
    # Gradients stay on (unlike a usual inference pass): the autograd graph of this one
    # pass is what tells which tensors each layer's input was computed from.
    with probe(model, handles, input_size, requires_grad=True) as leaf, torch.enable_grad():
        image = leaf.clone()  # not a leaf, so in-place ops on the input stay legal
        model(image)
    return calls, image.grad_fn


def _sources(start: Any, boundaries: dict[Any, int]) -> set[int]:
    """Indices of the boundary nodes ``start`` was computed from, not looking past them."""
    found: set[int] = set()
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if node in boundaries:
            found.add(boundaries[node])
            continue
        stack.extend(next_node for next_node, _ in node.next_functions)
    return found


def _window(module: nn.Module, size_in: int, size_out: int) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, dilation) along the height axis of a spatial module."""
    if isinstance(module, nn.Conv2d):
        kernel, stride = _height(module.kernel_size), _height(module.stride)
        dilation = _height(module.dilation)
        padding = module.padding
        if isinstance(padding, str):  # "valid" or "same" (stride 1 only)
            padding = 0 if padding == "valid" else (dilation * (kernel - 1)) // 2
        return kernel, stride, _height(padding), dilation
    if isinstance(module, _WINDOW_POOLS):
        dilation = _height(getattr(module, "dilation", 1))  # AvgPool2d has none
        stride = module.stride if module.stride is not None else module.kernel_size
        return _height(module.kernel_size), _height(stride), _height(module.padding), dilation
    if size_out == 1:  # global pooling: one window as large as the map
        return size_in, 1, 0, 1
    if isinstance(module, _ADAPTIVE_POOLS) and size_in % size_out == 0:
        step = size_in // size_out  # evenly divisible: plain pooling with kernel = stride
        return step, step, 0, 1
    raise UsageError(f"cannot give the receptive field of {module.__class__.__name__} "
                     f"reducing a {size_in}-pixel map to {size_out}")


def _expected_size(module: nn.Module, size_in: int, kernel: int, stride: int, padding: int,
                   dilation: int) -> int:
    """Output height by the formula (PyTorch's rules for 'same' and ceil_mode included)."""
    if isinstance(module, nn.Conv2d) and module.padding == "same":
        return size_in
    effective = dilation * (kernel - 1) + 1
    span = size_in + 2 * padding - effective
    if getattr(module, "ceil_mode", False):
        size = math.ceil(span / stride) + 1
        if (size - 1) * stride >= size_in + padding:  # last window must start inside
            size -= 1
        return size
    return span // stride + 1


def _is_spatial(call: _Call) -> bool:
    """Does this call need a row? Per-pixel layers (BN, ReLU, dropout) keep the map size."""
    if isinstance(call.module, (nn.Conv2d, *_WINDOW_POOLS, *_ADAPTIVE_POOLS)):
        return True
    if isinstance(call.module, _RESHAPES) or len(call.input_shape) != 4:
        return False
    height_in, width_in = call.input_shape[2:]
    if len(call.output_shape) == 4:
        if call.output_shape[2:] == (height_in, width_in):
            return False  # an unknown module that keeps the size is taken as per-pixel
        if call.output_shape[2:] == (1, 1):
            return True  # e.g. x.mean((2, 3), keepdim=True): global pooling
        raise UsageError(f"{call.name} ({call.module.__class__.__name__}) changes the map from "
                         f"{height_in}x{width_in} to {call.output_shape[2]}x"
                         f"{call.output_shape[3]}, and its receptive field is unknown")
    # (B, C, H, W) -> (B, C): x.mean((2, 3)) is global pooling; anything else ends the map.
    return call.output_shape == call.input_shape[:2]


def receptive_field(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)
                    ) -> list[dict[str, Any]]:
    """The receptive-field table of ``model``: one row per spatial layer, in forward order.

    Rows hold ``name`` (dotted module name), ``kind`` (class name), ``kernel``, ``stride``,
    ``padding``, ``dilation``, ``size_in``, ``size_out``, ``jump_in``, ``jump_out``,
    ``rf_in`` and ``rf_out``, all along the HEIGHT axis (see :data:`HEIGHT_AXIS_NOTE`).

    Convolutions (a 1x1 one too: it gets a row and leaves the field unchanged), max and
    average pooling and global pooling (adaptive pooling to 1x1, or any module that turns
    the map into one pixel: a kernel as large as its input, stride 1) get rows; per-pixel
    layers (batch norm, activations, dropout, and unknown modules that keep the map size)
    do not. A module called twice (a shared pool) gets a row per call.

    Raises :class:`UsageError` when one table cannot describe the model: a branch (a layer
    whose input is computed from more than the previous spatial layer's output, as in skip
    connections or squeeze-and-excitation), a size change outside any module
    (``F.max_pool2d`` in ``forward``), or a module whose field is unknown.

    The model runs once on a zero image of ``input_size`` (batch of 1, eval mode); the
    training mode of every submodule is restored afterwards.
    """
    calls, image_node = _record_calls(model, tuple(input_size))
    rows: list[dict[str, Any]] = []
    nodes: list[Any] = [image_node]  # what each row (index + 1) produced; 0 is the image
    labels = ["the input image"]
    size, jump, rf = int(input_size[1]), 1, 1
    for call in calls:
        if not _is_spatial(call):
            continue
        kind = call.module.__class__.__name__
        label = f"{call.name or kind} ({kind})"
        # Indices, not names: a shared module called twice must still count as two sources.
        sources = _sources(call.input_node, {node: index for index, node in enumerate(nodes)})
        if sources != {len(nodes) - 1}:
            others = [labels[i] for i in sorted(sources - {len(nodes) - 1})]
            raise UsageError(
                f"{label} reads from {', '.join(others) or 'nothing the table can follow'} "
                f"as well as from {labels[-1]}: the model branches (skip connection or "
                "squeeze-and-excitation?), so one receptive-field table cannot describe it"
            )
        size_in = call.input_shape[2]
        if size_in != size:
            raise UsageError(
                f"the map changes from {size} to {size_in} pixels between {labels[-1]} and "
                f"{label} outside any module (a functional call such as F.max_pool2d in "
                "forward?); use nn modules so the table can follow it"
            )
        size_out = call.output_shape[2] if len(call.output_shape) == 4 else 1
        kernel, stride, padding, dilation = _window(call.module, size_in, size_out)
        expected = _expected_size(call.module, size_in, kernel, stride, padding, dilation)
        if expected != size_out:
            raise UsageError(f"{label}: the formula gives a {expected}-pixel output but the "
                             f"forward pass gave {size_out}; its receptive field is unknown")
        effective = dilation * (kernel - 1) + 1
        rows.append({
            "name": call.name, "kind": kind, "kernel": kernel, "stride": stride,
            "padding": padding, "dilation": dilation, "size_in": size_in,
            "size_out": size_out, "jump_in": jump, "jump_out": jump * stride,
            "rf_in": rf, "rf_out": rf + (effective - 1) * jump,
        })
        size, jump, rf = size_out, jump * stride, rows[-1]["rf_out"]
        nodes.append(call.output_node)
        labels.append(label)
    return rows


__all__ = ["HEIGHT_AXIS_NOTE", "receptive_field"]
