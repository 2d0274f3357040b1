"""Per-layer output shapes and parameter counts, measured on a real forward pass.

Like ``torchinfo`` but with plain forward hooks: one dummy image runs through the model
and every leaf module reports its output shape in the order it ran; so does every
spatial operation called outside a module (``F.max_pool2d(x, 2)`` in ``forward``, a skip
connection's ``x + y``), as the receptive-field trace of the same pass finds them. Each
trainable parameter is counted once, on the first row that owns it, so the rows always
add up to the model's parameter count (the number the 8,000-parameter budget is about).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mnist_course.architecture.receptive_field import trace_receptive_field


def _output_shape(output: Any) -> list[int] | None:
    """The shape without the batch dimension (of the first tensor, for tuple outputs)."""
    if isinstance(output, tuple | list) and output:
        output = output[0]
    return list(output.shape[1:]) if isinstance(output, torch.Tensor) else None


def _reported(module: nn.Module) -> bool:
    """Leaf modules get a row, and so does any module holding trainable parameters itself."""
    own = any(p.requires_grad for p in module.parameters(recurse=False))
    return own or not any(module.children())


def layer_summary(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)
                  ) -> dict[str, Any]:
    """Rows of ``name``, ``kind``, ``output_shape`` (no batch dimension) and ``params``
    (trainable parameters of that module itself), in the order the forward pass runs
    them, plus ``total_params``.

    A module called twice gets a row per call, its parameters counted on the first; a
    spatial operation outside any module gets a row named like the receptive-field
    table's (``file.py:line``, the function's name) with no parameters; a
    module that never runs gets a row at the end with ``output_shape`` None, so
    ``total_params`` always equals the model's trainable parameter count.
    """
    rows: list[dict[str, Any]] = []
    counted: set[int] = set()  # ids of parameters already on a row (shared weights count once)

    def own_new_params(module: nn.Module) -> int:
        fresh = [p for p in module.parameters(recurse=False)
                 if p.requires_grad and id(p) not in counted]
        counted.update(id(p) for p in fresh)
        return sum(p.numel() for p in fresh)

    def start(name: str):
        # A pre-hook claims the row when the module starts, so a parent holding its own
        # parameters comes before its children, as it reads in the code.
        def claim(module: nn.Module, inputs: tuple) -> None:
            rows.append({"name": name, "kind": module.__class__.__name__,
                         "output_shape": None, "params": own_new_params(module)})
            pending.setdefault(id(module), []).append(rows[-1])
        return claim

    def finish(module: nn.Module, inputs: tuple, output: Any) -> None:
        pending[id(module)].pop()["output_shape"] = _output_shape(output)

    def functional(name: str, kind: str, output_shape: list[int]) -> None:
        rows.append({"name": name, "kind": kind, "output_shape": output_shape, "params": 0})

    pending: dict[int, list[dict[str, Any]]] = {}
    reported = [(name, m) for name, m in model.named_modules() if _reported(m)]
    handles = [m.register_forward_pre_hook(start(name)) for name, m in reported]
    handles += [m.register_forward_hook(finish) for _, m in reported]
    try:  # the hooks are on during the trace's forward pass: one pass for both
        trace_receptive_field(model, input_size, on_functional=functional)
    finally:
        for handle in handles:
            handle.remove()
    for name, module in reported:
        params = own_new_params(module)
        if params:  # never ran, but its parameters still count towards the budget
            rows.append({"name": name, "kind": module.__class__.__name__,
                         "output_shape": None, "params": params})
    total = sum(row["params"] for row in rows)
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert total == expected, f"layer rows add up to {total} parameters, the model has {expected}"
    return {"rows": rows, "total_params": total}


__all__ = ["layer_summary"]
