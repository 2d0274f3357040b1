"""The receptive-field table of a convolutional network, followed through its real execution.

:func:`trace_receptive_field` runs one dummy image through the model under a
:class:`torch.overrides.TorchFunctionMode`, which sees every torch call the forward pass
makes: the ones inside ``nn.Module``s (``nn.Conv2d`` calls ``F.conv2d``) and the ones a
student writes in ``forward`` (``F.max_pool2d(x, 2)``, ``x.mean((2, 3))``, ``x + y``).
Every tensor computed from the image carries its receptive field; each operation that
changes it gets a row, in the order the forward pass runs them (a module called twice
gets a row per call)::

    k' = d (k - 1) + 1                                  effective kernel
    size_out = floor((size_in + 2 p - k') / s) + 1
    jump_out = jump_in * s                              pixels between neighbouring outputs
    rf_out   = rf_in + (k' - 1) * jump_in               input pixels one output can see
    start_out = start_in + ((k' - 1) / 2 - p) * jump_in  centre of the first output's field

starting from ``size`` = input height, ``jump`` = 1, ``rf`` = 1 and ``start`` = 0.

Rows come from convolutions, max and average pools, adaptive pools, means (sums, maxima)
over the spatial dimensions and padding. Per-pixel operations (activations, batch norm,
dropout, a channel softmax) and reshapes of a 1x1 map (``flatten``, ``view``) pass the
field on unchanged and get no row. An operation that combines two tensors computed from
the image (a skip connection ``x + y``, a gate ``x * g``, ``torch.cat`` of branches) gets
a row "add (merges 2 paths)": its output pixel sees the union of what its inputs see,
which is the largest field over the paths when they are centred alike. What cannot be
followed (an unknown operation that changes the map, ``F.interpolate``, a ``linear`` on a
flattened map) is named with where it happened; the field of what it computes is unknown.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from mnist_course.architecture.probe import module_stack_hooks, probe
from mnist_course.errors import UsageError

HEIGHT_AXIS_NOTE = (
    "Kernel, stride, padding, dilation, sizes, jumps and receptive fields are given along "
    "the height axis; for square kernels and square images the width is the same."
)

SINGLE_PATH_NOTE = (
    " The rows follow the forward pass along the network's main path; the course models "
    "are a single path with no branches, so that path is the whole network."
)

_TORCH_DIR = str(Path(torch.__file__).resolve().parent)
_THIS_FILE = str(Path(__file__).resolve())


@dataclass(frozen=True)
class PathField:
    """What one pixel sees through one path from the image, along the height.

    ``fixed`` marks a path whose window is the same for every pixel of the map: one that
    went through global pooling (a squeeze-and-excitation gate, broadcast back over the
    map). Sliding windows over the map do not widen it.
    """

    jump: int  # input pixels between neighbouring pixels of the map
    rf: int  # input pixels one pixel sees
    start: float  # centre of the first pixel's window, in input pixels (0 = first pixel)
    fixed: bool = False

    def window(self) -> tuple[float, float]:
        """The input rows the first pixel sees (inclusive)."""
        half = (self.rf - 1) / 2
        return self.start - half, self.start + half

    def slid(self, effective: int, stride: int, padding: int) -> PathField:
        """Through a window of ``effective`` pixels moved by ``stride`` over ``padding``."""
        if self.fixed:
            return self
        return PathField(jump=self.jump * stride, rf=self.rf + (effective - 1) * self.jump,
                         start=self.start + ((effective - 1) / 2 - padding) * self.jump)


@dataclass(frozen=True)
class Field:
    """What one pixel of a tensor computed from the image sees: one :class:`PathField`
    per path the image took to it (one, unless the network branches).

    ``size`` is the map height the field refers to (kept when the map is flattened, so a
    mean over the flattened pixels is still global pooling); ``flat`` marks a map whose
    pixels were flattened into one dimension.
    """

    size: int
    paths: tuple[PathField, ...]
    flat: bool = False

    @property
    def rf(self) -> int:
        """Input pixels the first pixel sees: the union of its windows over the paths."""
        lows, highs = zip(*(path.window() for path in self.paths), strict=True)
        return int(round(max(highs) - min(lows))) + 1

    @property
    def jump(self) -> int:
        moving = [path.jump for path in self.paths if not path.fixed]
        return max(moving) if moving else self.paths[0].jump

    def slid(self, size_out: int, effective: int, stride: int, padding: int) -> Field:
        return Field(size_out, tuple(p.slid(effective, stride, padding) for p in self.paths))

    def pooled(self) -> Field:
        """Through one window as large as the map (global pooling): one pixel that sees
        what every pixel saw, the same wherever it is broadcast to later."""
        return Field(1, tuple(PathField(path.jump, path.rf, path.start, True) if path.fixed
                              else PathField(path.jump, path.rf + (self.size - 1) * path.jump,
                                             path.start + (self.size - 1) / 2 * path.jump,
                                             True)
                              for path in self.paths))


def _merged(fields: list[Field], size: int) -> Field:
    """The field of a pixel computed from several tensors: every path of each, a 1-pixel
    input broadcast over the map as a fixed path; paths that add nothing are dropped."""
    paths: list[PathField] = []
    for value in fields:
        broadcast = value.size == 1 and size > 1
        paths += [PathField(p.jump, p.rf, p.start, True) if broadcast else p
                  for p in value.paths]
    kept: list[PathField] = []
    for path in paths:
        low, high = path.window()
        if not any(other.fixed == path.fixed and (other.fixed or other.jump == path.jump)
                   and other.window()[0] <= low and high <= other.window()[1]
                   for other in kept):
            kept = [other for other in kept
                    if not (other.fixed == path.fixed and (other.fixed or other.jump == path.jump)
                            and low <= other.window()[0] and other.window()[1] <= high)]
            kept.append(path)
    return Field(size, tuple(kept), flat=any(value.flat for value in fields))


@dataclass
class FieldTrace:
    """What :func:`trace_receptive_field` followed: the rows, the field of the model's
    output (None when something on the way to it could not be followed), and a line per
    operation it could not follow, naming where it happened."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    final_rf: int | None = 1
    unfollowed: list[str] = field(default_factory=list)
    merges: int = 0  # rows that merge paths (the network branches)

    def note(self) -> str:
        """The sentence the pages print above the table: the axis, the path(s) the rows
        follow, and what could not be followed."""
        if self.merges:
            paths = (" The rows follow the forward pass; the network branches, and a row that "
                     "merges paths gives each output pixel the union of what its inputs see "
                     "(the largest field over the paths when they are centred alike).")
        else:
            paths = SINGLE_PATH_NOTE
        missing = (" Not followed: " + "; ".join(self.unfollowed) + "; the field of what it "
                   "computes is unknown.") if self.unfollowed else ""
        return HEIGHT_AXIS_NOTE + paths + missing


def _height(value: Any) -> int:
    """The height component of an int-or-pair argument."""
    return int(value[0]) if isinstance(value, tuple | list) else int(value)


def _name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    return name.strip("_") if name.startswith("__") else name  # __add__ -> add


def _arguments(args: tuple, kwargs: dict, names: tuple[str, ...], defaults: dict) -> dict:
    """The call's arguments by parameter name (torch builtins have no signature)."""
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


# Conv and pool signatures after the input, as PyTorch documents them.
_CONV = (("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
         {"bias": None, "stride": 1, "padding": 0, "dilation": 1})
_MAX_POOL = (("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
             {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False})
_AVG_POOL = (("input", "kernel_size", "stride", "padding", "ceil_mode"),
             {"stride": None, "padding": 0, "ceil_mode": False})
_WINDOWS = {"conv2d": _CONV, "max_pool2d": _MAX_POOL, "max_pool2d_with_indices": _MAX_POOL,
            "avg_pool2d": _AVG_POOL}
_ADAPTIVE = {"adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"}
# Reductions that pool when they run over the spatial dimensions.
_REDUCTIONS = {"mean", "sum", "amax", "amin", "max", "min", "logsumexp", "nanmean", "std",
               "var"}
_RESHAPES = {"flatten", "view", "reshape", "squeeze", "unsqueeze", "view_as", "reshape_as"}
# Operations that keep the shape but move pixels: their field cannot be followed as one.
_REARRANGE = {"flip", "fliplr", "flipud", "roll", "rot90", "transpose", "permute", "t",
              "swapaxes", "swapdims", "movedim", "pixel_shuffle", "pixel_unshuffle"}
# Tensors made *like* another one carry none of its information.
_FACTORIES = {"zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
              "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor"}


class _Unfollowed(Exception):
    """An operation the table cannot follow (the message says why)."""


def _window_of(name: str, bound: dict) -> tuple[int, int, int, int]:
    """(kernel, stride, padding, dilation) along the height of a conv or pool call."""
    if name == "conv2d":
        kernel = int(bound["weight"].shape[2])
        dilation = _height(bound["dilation"])
        padding = bound["padding"]
        if isinstance(padding, str):  # "valid", or "same" (stride 1 only)
            padding = 0 if padding == "valid" else (dilation * (kernel - 1)) // 2
        return kernel, _height(bound["stride"]), _height(padding), dilation
    kernel = _height(bound["kernel_size"])
    stride = bound["stride"]
    stride = kernel if stride is None or stride == [] or stride == () else _height(stride)
    return kernel, stride, _height(bound["padding"]), _height(bound.get("dilation", 1))


def _expected_size(size_in: int, kernel: int, stride: int, padding: int, dilation: int,
                   ceil_mode: bool, same: bool) -> int:
    """Output height by the formula (PyTorch's rules for 'same' and ceil_mode included)."""
    if same:
        return size_in
    span = size_in + 2 * padding - (dilation * (kernel - 1) + 1)
    if ceil_mode:
        size = math.ceil(span / stride) + 1
        if (size - 1) * stride >= size_in + padding:  # last window must start inside
            size -= 1
        return size
    return span // stride + 1


def _spatial_dims(dims: Any, ndim: int) -> set[int] | None:
    if dims is None:
        return None  # a reduction over everything
    dims = dims if isinstance(dims, tuple | list) else (dims,)
    return {int(d) % ndim for d in dims}


class _Tracer(TorchFunctionMode):
    """Carries a :class:`Field` for every tensor computed from the image and writes a row
    for every operation that changes one."""

    def __init__(self, image: torch.Tensor,
                 on_functional: Callable[[str, str, list[int]], None] | None = None):
        super().__init__()
        self.on_functional = on_functional
        # id -> (tensor, field); the tensor is held so that its id is not reused.
        self.fields: dict[int, tuple[torch.Tensor, Field]] = {
            id(image): (image, Field(int(image.shape[2]), (PathField(jump=1, rf=1, start=0.0),)))}
        self.modules: list[tuple[str, nn.Module]] = []  # modules running now, innermost last
        self.trace = FieldTrace()

    # ------------------------------------------------------------------ bookkeeping

    def field_of(self, tensor: torch.Tensor) -> Field | None:
        entry = self.fields.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def carry(self, output: Any, value: Field | None) -> None:
        for tensor in _tensors(output):
            if value is None:
                self.fields.pop(id(tensor), None)  # in place: what it held is gone
            else:
                self.fields[id(tensor)] = (tensor, value)

    def in_leaf_module(self) -> bool:
        """Is the running operation a leaf module's own (a Conv2d's conv2d)?"""
        if not self.modules:
            return False
        path, module = self.modules[-1]
        return bool(path) and not any(module.children())

    def where(self, func: Any) -> tuple[str, str]:
        """(name, kind) of a row: the module's path and class when the operation is a leaf
        module's own, else where in the source it happened and the function's name."""
        if self.in_leaf_module():
            path, module = self.modules[-1]
            return path, module.__class__.__name__
        frame = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith(_TORCH_DIR)
                                     or frame.f_code.co_filename == _THIS_FILE):
            frame = frame.f_back
        place = (f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                 if frame is not None else "?")
        path = self.modules[-1][0] if self.modules else ""
        return (f"{path}, {place}" if path else place), _name(func)

    def row(self, func: Any, before: Field, after: Field, kernel: int, stride: int,
            padding: int, dilation: int, kind: str | None = None) -> None:
        name, default_kind = self.where(func)
        self.trace.rows.append({
            "name": name, "kind": kind or default_kind, "kernel": kernel, "stride": stride,
            "padding": padding, "dilation": dilation, "size_in": before.size,
            "size_out": after.size, "jump_in": before.jump, "jump_out": after.jump,
            "rf_in": before.rf, "rf_out": after.rf,
        })

    def unfollowed(self, func: Any, why: str) -> None:
        name, kind = self.where(func)
        line = f"{kind} at {name}: {why}" if kind != name else f"{name}: {why}"
        if line not in self.trace.unfollowed:
            self.trace.unfollowed.append(line)

    # ------------------------------------------------------------------ the mode

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        name = _name(func)
        inputs = _tensors((args, kwargs))
        sources: list[tuple[torch.Tensor, Field]] = []
        for tensor in inputs:
            value = self.field_of(tensor)
            if value is not None and all(tensor is not seen for seen, _ in sources):
                sources.append((tensor, value))
        if not sources or name in _FACTORIES or not _tensors(output):
            return output
        if name.endswith("_as"):  # x.expand_as(y), x.view_as(y): y lends only its shape
            sources = [source for source in sources if args and source[0] is args[0]]
            if not sources:
                return output
        rows = len(self.trace.rows)
        try:
            result = self.follow(func, name, args, kwargs, output, sources)
        except _Unfollowed as exc:
            self.unfollowed(func, str(exc))
            result = None
        self.carry(output, result)
        if self.on_functional and len(self.trace.rows) > rows and not self.in_leaf_module():
            row = self.trace.rows[-1]
            self.on_functional(row["name"], row["kind"], list(_tensors(output)[0].shape[1:]))
        return output

    def follow(self, func, name: str, args: tuple, kwargs: dict, output: Any,
               sources: list[tuple[torch.Tensor, Field]]) -> Field | None:
        """The field of ``output``, writing a row when the operation changes it."""
        tensor, before = sources[0]
        out = _tensors(output)[0]
        if len(sources) > 1:
            return self.merge(func, name, args, kwargs, sources, out)
        if name in _WINDOWS:
            return self.window(func, name, _arguments(args, kwargs, *_WINDOWS[name]),
                               tensor, before, out)
        if name in _ADAPTIVE:
            return self.adaptive(func, tensor, before, out)
        if name == "pad":
            return self.pad(func, _arguments(args, kwargs, ("input", "pad"), {}), tensor,
                            before, out)
        if name in _REDUCTIONS and tensor.dim() >= 3:
            dims = args[1] if len(args) > 1 else kwargs.get("dim")
            return self.reduce(func, _spatial_dims(dims, tensor.dim()), tensor, before, out)
        if name in _RESHAPES:
            return self.reshape(tensor, before, out)
        if name in _REARRANGE and tensor.dim() == 4 and not before.flat:
            raise _Unfollowed(f"it moves pixels of the {before.size}-pixel map around")
        if tuple(out.shape) == tuple(tensor.shape) or (
                out.dim() == tensor.dim() >= 3 and out.shape[2:] == tensor.shape[2:]):
            return before  # per pixel: activations, batch norm, dropout, softmax over C
        if name == "linear" and before.flat:  # every output sees every pixel of the map
            return self.global_pool(func, before)
        if (tensor.dim() == 4 and before.size > 1) or before.flat:
            raise _Unfollowed(f"it turns a {'x'.join(map(str, tensor.shape[1:]))} tensor into "
                              f"{'x'.join(map(str, out.shape[1:]))}, and its receptive field "
                              "is unknown")
        return before  # one pixel per channel: whatever it does, it sees what that pixel saw

    def window(self, func, name: str, bound: dict, tensor: torch.Tensor, before: Field,
               out: torch.Tensor) -> Field:
        if tensor.dim() != 4 or before.flat:
            raise _Unfollowed("it runs on a tensor that is not a (B, C, H, W) map")
        kernel, stride, padding, dilation = _window_of(name, bound)
        same = name == "conv2d" and bound["padding"] == "same"
        expected = _expected_size(before.size, kernel, stride, padding, dilation,
                                  bool(bound.get("ceil_mode")), same)
        if expected != out.shape[2]:
            raise _Unfollowed(f"the formula gives a {expected}-pixel output but the forward "
                              f"pass gave {out.shape[2]}")
        effective = dilation * (kernel - 1) + 1
        after = before.slid(int(out.shape[2]), effective, stride, padding)
        self.row(func, before, after, kernel, stride, padding, dilation)
        return after

    def global_pool(self, func, before: Field) -> Field:
        """One window as large as the map: kernel = size, stride 1."""
        after = before.pooled()
        self.row(func, before, after, before.size, 1, 0, 1)
        return after

    def adaptive(self, func, tensor: torch.Tensor, before: Field, out: torch.Tensor) -> Field:
        size_out = int(out.shape[2])
        if size_out == 1:
            return self.global_pool(func, before)
        if before.size % size_out:
            raise _Unfollowed(f"it reduces a {before.size}-pixel map to {size_out}, in windows "
                              "of different sizes")
        step = before.size // size_out  # evenly divisible: plain pooling, kernel = stride
        after = before.slid(size_out, step, step, 0)
        self.row(func, before, after, step, step, 0, 1)
        return after

    def pad(self, func, bound: dict, tensor: torch.Tensor, before: Field,
            out: torch.Tensor) -> Field:
        pad = list(bound["pad"])
        if tensor.dim() != 4 or len(pad) < 4 or pad[2] != pad[3] or before.flat:
            if out.dim() == 4 and out.shape[2:] == tensor.shape[2:]:
                return before  # pads only the channels or the width... of a 1-pixel map
            raise _Unfollowed("it pads the height unevenly or a tensor that is not a map")
        top = int(pad[2])
        after = before.slid(int(out.shape[2]), 1, 1, top)
        self.row(func, before, after, 1, 1, top, 1)
        return after

    def reduce(self, func, dims: set[int] | None, tensor: torch.Tensor, before: Field,
               out: torch.Tensor) -> Field:
        ndim = tensor.dim()
        spatial = ({ndim - 1} if before.flat else {ndim - 2, ndim - 1})
        if dims is None or spatial <= dims:
            return self.global_pool(func, before)
        if not dims & spatial:
            return before  # over the channels: per pixel
        raise _Unfollowed("it reduces one spatial dimension but not the other")

    def reshape(self, tensor: torch.Tensor, before: Field, out: torch.Tensor) -> Field:
        if before.flat or (tensor.dim() == 4 and tensor.shape[2] * tensor.shape[3] == 1):
            return before  # one pixel per channel, whatever the shape now
        if tensor.dim() == 4 and out.dim() >= 3 and out.shape[-2:] == tensor.shape[-2:]:
            return before  # the map itself is kept (channels regrouped, say)
        if tensor.dim() == 4 and out.shape[-1] % (tensor.shape[2] * tensor.shape[3]) == 0:
            return Field(before.size, before.paths, flat=True)
        raise _Unfollowed(f"it reshapes the {before.size}-pixel map so that its pixels "
                          "cannot be told apart")

    def merge(self, func, name: str, args: tuple, kwargs: dict,
              sources: list[tuple[torch.Tensor, Field]], out: torch.Tensor) -> Field:
        """Two or more paths meet: each output pixel sees the union of what they see."""
        if name in ("cat", "concat", "concatenate", "stack"):
            dim = int(_arguments(args, kwargs, ("tensors", "dim"), {"dim": 0})["dim"])
            if out.dim() == 4 and dim % 4 >= 2:
                raise _Unfollowed("it joins maps along a spatial dimension")
        fields = [value for _, value in sources]
        sizes = {value.size for value in fields if value.size > 1}
        size = int(out.shape[2]) if out.dim() == 4 and not fields[0].flat else max(
            value.size for value in fields)
        if len(sizes) > 1 or (sizes and size not in sizes):
            raise _Unfollowed(f"it combines maps of {sorted(sizes)} pixels")
        after = _merged(fields, size)
        self.trace.merges += 1
        self.row(func, fields[0], after, 1, 1, 0, 1,
                 kind=f"{name} (merges {len(fields)} paths)")
        return after


def trace_receptive_field(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28),
                          on_functional: Callable[[str, str, list[int]], None] | None = None
                          ) -> FieldTrace:
    """Follow the receptive field through one forward pass of ``model`` on a zero image
    of ``input_size`` (batch of 1, eval mode, no gradients; every submodule's training
    mode is restored afterwards).

    Rows hold ``name`` (the module's dotted path when the operation is a leaf module's,
    else ``file.py:line`` of the call, after the path of the module whose ``forward``
    made it), ``kind`` (the module's class or the function's name), ``kernel``,
    ``stride``, ``padding``, ``dilation``, ``size_in``, ``size_out``, ``jump_in``,
    ``jump_out``, ``rf_in`` and ``rf_out``, all along the HEIGHT axis (see
    :data:`HEIGHT_AXIS_NOTE`). A merge row's ``rf_in`` is its first input's field.

    ``on_functional(name, kind, output_shape)`` is called, as it happens, for each row of
    an operation outside any leaf module (the layer summary lists them among its modules).
    """
    tracer: _Tracer | None = None
    handles = module_stack_hooks(model, lambda: tracer.modules if tracer else None)
    with probe(model, handles, tuple(input_size)) as image, torch.no_grad():
        tracer = _Tracer(image, on_functional)
        with tracer:
            output = model(image)
    outputs = _tensors(output)
    value = tracer.field_of(outputs[0]) if outputs else None
    tracer.trace.final_rf = value.rf if value is not None else None
    if value is None and not tracer.trace.unfollowed:
        tracer.trace.unfollowed.append("the output is not computed from the image by "
                                       "operations the table can follow")
    return tracer.trace


def receptive_field(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)
                    ) -> list[dict[str, Any]]:
    """The rows of :func:`trace_receptive_field`; a :class:`UsageError` naming what could
    not be followed (one line) when the table is incomplete."""
    trace = trace_receptive_field(model, input_size)
    if trace.unfollowed:
        raise UsageError("the receptive field cannot be followed through "
                         + "; ".join(trace.unfollowed))
    return trace.rows


__all__ = ["HEIGHT_AXIS_NOTE", "Field", "FieldTrace", "receptive_field",
           "trace_receptive_field"]
