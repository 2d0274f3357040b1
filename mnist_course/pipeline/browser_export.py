"""A trained network as a small program the "Try it" page runs in the reader's browser.

Which runtime runs it there: a forward pass written by hand in JavaScript
(``mnist_course/report/assets/try-it.js``), not onnxruntime-web. The reasons:

- Size. onnxruntime-web's WebAssembly is about 13 MB. It would ship inside this package and be
  copied into every student's published site, to run networks of fewer than 8,000 parameters
  (a few tens of kilobytes of weights) on one 28 x 28 image. The hand-written pass is a few
  kilobytes.
- The page shows every layer. It needs each convolution's feature maps and the GAP's outputs,
  not only the ten scores; an ONNX graph returns its declared outputs, so each intermediate
  would have to be declared as one, and read back through the runtime's asynchronous API.
- The operations are few. The assignment's networks are a chain of what its static checks
  accept: convolutions (grouped and depthwise, any padding, stride and dilation), batch norm
  in eval mode, ReLU, dropout (nothing in eval mode), max-pooling, global average pooling,
  flattening a 1 x 1 map and a (log-)softmax. Each is a loop of a few lines a student can read.
- Nothing to install. No Node, no bundler, no file fetched from a CDN: the script is a package
  asset copied into the site like the stylesheet.

The price: a network using anything else (a skip connection, an upsampling, a fully connected
layer) is not run in the browser. :func:`forward_program` then raises
:class:`BrowserUnsupported` with the reason, and the page names the model and that reason.

The program is read from one real forward pass (a :class:`~torch.overrides.TorchFunctionMode`
sees every torch call, inside modules or in a student's ``forward``), so what the page runs is
what PyTorch ran, in the same order, with the shapes PyTorch computed. Weights are stored as
little-endian float32 in base64: exact, and a third of the size of decimal text.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from mnist_course.architecture.probe import module_stack_hooks, probe
from mnist_course.training.data import MNIST_MEAN, MNIST_STD

# Per-pixel operations that do nothing in eval mode.
_IDENTITY = {"dropout", "dropout_", "dropout2d", "feature_dropout", "alpha_dropout",
             "contiguous", "clone", "detach"}
_RELU = {"relu", "relu_"}
_FLATTEN = {"flatten", "view", "reshape", "squeeze", "view_as", "reshape_as"}
_SOFTMAX = {"log_softmax": "log_softmax", "softmax": "softmax"}


RUNS = ("the page runs convolutions, batch norm, ReLU, max-pooling, global average pooling, "
        "flattening a 1 x 1 map and a final softmax")


class BrowserUnsupported(Exception):
    """The network uses something the browser's forward pass does not run (the message
    says what, and where)."""


def _float32(tensor: torch.Tensor) -> str:
    array = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
    return base64.b64encode(array.astype("<f4").tobytes()).decode("ascii")


def _pair(value: Any) -> list[int]:
    return [int(value[0]), int(value[1])] if isinstance(value, tuple | list) else [int(value)] * 2


def _arguments(args: tuple, kwargs: dict, names: tuple[str, ...], defaults: dict) -> dict:
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


def _shape(tensor: torch.Tensor) -> list[int]:
    return [int(n) for n in tensor.shape[1:]]


def _conv(bound: dict, out: torch.Tensor) -> dict:
    weight = bound["weight"]
    kernel = [int(weight.shape[2]), int(weight.shape[3])]
    dilation = _pair(bound.get("dilation", 1))
    padding = bound.get("padding", 0)
    if padding == "valid":
        padding = [0, 0]
    elif padding == "same":  # PyTorch puts the odd pixel of an even kernel at the end
        padding = [dilation[i] * (kernel[i] - 1) // 2 for i in range(2)]
    bias = bound.get("bias")
    return {"op": "conv", "kernel": kernel, "stride": _pair(bound.get("stride", 1)),
            "padding": _pair(padding), "dilation": dilation,
            "groups": int(bound.get("groups", 1)), "weight": _float32(weight),
            "bias": _float32(bias) if bias is not None else None, "shape": _shape(out)}


def _batch_norm(bound: dict, out: torch.Tensor) -> dict:
    if bound.get("training") or bound.get("running_mean") is None:
        raise BrowserUnsupported("batch norm without running statistics (it normalises each "
                                 "batch by its own statistics)")
    channels = int(bound["running_mean"].shape[0])
    weight, bias = bound.get("weight"), bound.get("bias")
    return {"op": "batch_norm", "mean": _float32(bound["running_mean"]),
            "var": _float32(bound["running_var"]),
            "weight": _float32(weight if weight is not None else torch.ones(channels)),
            "bias": _float32(bias if bias is not None else torch.zeros(channels)),
            "eps": float(bound.get("eps", 1e-5)), "shape": _shape(out)}


def _max_pool(bound: dict, out: torch.Tensor) -> dict:
    kernel = _pair(bound["kernel_size"])
    stride = bound.get("stride")
    return {"op": "max_pool", "kernel": kernel,
            "stride": kernel if stride is None or stride in ([], ()) else _pair(stride),
            "padding": _pair(bound.get("padding", 0)),
            "dilation": _pair(bound.get("dilation", 1)), "shape": _shape(out)}


def _is_global(tensor: torch.Tensor, out: torch.Tensor) -> bool:
    return tensor.dim() == 4 and out.numel() == tensor.shape[0] * tensor.shape[1]


_CONV = (("input", "weight", "bias", "stride", "padding", "dilation", "groups"), {})
_BATCH_NORM = (("input", "running_mean", "running_var", "weight", "bias", "training",
                "momentum", "eps"), {})
_POOL = (("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"), {})


def _operation(name: str, args: tuple, kwargs: dict, tensor: torch.Tensor,
               out: torch.Tensor) -> dict | None:
    """The program's step for one torch call on the image's path; None for a call that
    changes nothing the page computes (dropout in eval mode, a copy)."""
    if name == "conv2d":
        return _conv(_arguments(args, kwargs, *_CONV), out)
    if name == "batch_norm":
        return _batch_norm(_arguments(args, kwargs, *_BATCH_NORM), out)
    if name in _RELU:
        return {"op": "relu", "shape": _shape(out)}
    if name in ("max_pool2d", "max_pool2d_with_indices"):
        bound = _arguments(args, kwargs, *_POOL)
        if bound.get("ceil_mode"):
            raise BrowserUnsupported("max-pooling with ceil_mode")
        return _max_pool(bound, out)
    if name in ("adaptive_avg_pool2d", "mean", "avg_pool2d") and _is_global(tensor, out):
        return {"op": "global_avg_pool", "shape": _shape(out)}
    if name in _FLATTEN and tensor.numel() == out.numel() and (
            tensor.dim() < 4 or tensor.shape[2] * tensor.shape[3] == 1):
        return {"op": "flatten", "shape": _shape(out)}
    if name in _SOFTMAX:
        dim = _arguments(args, kwargs, ("input", "dim"), {"dim": None})["dim"]
        if dim not in (1, -1) or out.dim() != 2:
            raise BrowserUnsupported(f"{name} over dimension {dim} of a "
                                     f"{'x'.join(map(str, _shape(tensor)))} tensor")
        return {"op": _SOFTMAX[name], "shape": _shape(out)}
    if name in _IDENTITY and tuple(out.shape) == tuple(tensor.shape):
        return None
    raise BrowserUnsupported(f"{name} on a {'x'.join(map(str, _shape(tensor)))} tensor ({RUNS})")


class _Recorder(TorchFunctionMode):
    """Follows the image's one path through the forward pass, a step per torch call."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.head = image  # the tensor the next step must read
        self.steps: list[dict] = []
        self.where: list[tuple[str, nn.Module]] = []  # modules running now, innermost last

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func)).strip("_") or str(func)
        out = output[0] if isinstance(output, tuple) and output else output
        if not isinstance(out, torch.Tensor):
            return output  # .shape, .dim(): facts about the tensor, not new values
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        if not any(a is self.head for a in inputs):
            return output  # weights, or a tensor made apart from the image
        path = self.where[-1][0] if self.where else ""
        place = f" in {path}" if path else ""
        if sum(a is self.head for a in inputs) != len(inputs) and name not in (
                "conv2d", "batch_norm"):
            raise BrowserUnsupported(f"{name}{place} combines the image's path with another "
                                     f"tensor ({RUNS}, one after the other)")
        try:
            step = _operation(name, args, kwargs, self.head, out)
        except BrowserUnsupported as exc:
            raise BrowserUnsupported(f"{exc}{place}") from None
        if step is not None:
            step["name"] = path
            self.steps.append(step)
        self.head = out
        return output


def forward_program(network: nn.Module) -> list[dict]:
    """The steps of ``network``'s forward pass on one 28 x 28 image (eval mode), each with
    its parameters and output shape (without the batch dimension);
    :class:`BrowserUnsupported` when a step is outside what the page runs."""
    recorder: _Recorder | None = None
    handles = module_stack_hooks(network, lambda: recorder.where if recorder else None)
    with probe(network, handles, (1, 28, 28)) as image, torch.no_grad():
        recorder = _Recorder(image)
        with recorder:
            output = network(image)
    if output is not recorder.head:
        raise BrowserUnsupported("its output is not the end of the image's one path")
    if tuple(output.shape) != (1, 10):
        raise BrowserUnsupported(f"it returns a {tuple(output.shape)} tensor, not ten scores")
    return recorder.steps


def export_model(network: nn.Module, weights_path: Path) -> dict:
    """The page's file for ``network`` with the weights stored at ``weights_path``: the
    program, MNIST's normalisation as in training, and what the last step returns; or, when
    the browser cannot run it, the reason."""
    from mnist_course.store.files import load_weights

    network.load_state_dict(load_weights(Path(weights_path)))
    try:
        steps = forward_program(network.eval())
    except BrowserUnsupported as exc:
        return {"runnable": False, "reason": str(exc)}
    return {"runnable": True, "mean": MNIST_MEAN, "std": MNIST_STD, "steps": steps}


def reference_probabilities(network: nn.Module, pixels: np.ndarray) -> np.ndarray:
    """PyTorch's ten probabilities for images of MNIST's scale ((N, 28, 28) in [0, 1]),
    normalised as in training: what the page's ``classifyDigit`` must give."""
    images = (torch.as_tensor(pixels, dtype=torch.float32).reshape(-1, 1, 28, 28)
              - MNIST_MEAN) / MNIST_STD
    with torch.no_grad():
        output = network.eval()(images)
    steps = forward_program(network)
    last = steps[-1]["op"] if steps else ""
    if last == "log_softmax":
        output = output.exp()
    elif last != "softmax":
        output = output.softmax(dim=1)
    return output.double().numpy()


__all__ = ["BrowserUnsupported", "export_model", "forward_program", "reference_probabilities"]
