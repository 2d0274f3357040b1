"""One dummy image through a model in eval mode: the forward pass the layer summary and
the receptive-field trace measure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


@contextmanager
def probe(model: nn.Module, handles: list, input_size: tuple[int, int, int]
          ) -> Iterator[torch.Tensor]:
    """A dummy batch of one image for a forward pass in eval mode, on the model's device.

    On exit the hook ``handles`` are removed and every module's training flag is restored
    one by one (so a batch norm frozen on purpose stays frozen).
    """
    modes = {m: m.training for m in model.modules()}
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    try:
        model.eval()
        yield torch.zeros((1, *input_size), device=device, dtype=dtype)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training


def module_stack_hooks(model: nn.Module, stack: Callable[[], list | None]) -> list:
    """Hooks that keep ``stack()`` (when it is not None) holding ``(path, module)`` of the
    modules running now, innermost last; the handles, for :func:`probe` to remove."""

    def enter(path: str):
        def push(module: nn.Module, inputs: tuple) -> None:
            modules = stack()
            if modules is not None:
                modules.append((path, module))
        return push

    def leave(module: nn.Module, inputs: tuple, output: Any) -> None:
        modules = stack()
        if modules:
            modules.pop()

    named = list(model.named_modules())
    return ([m.register_forward_pre_hook(enter(path)) for path, m in named]
            + [m.register_forward_hook(leave) for _, m in named])


__all__ = ["module_stack_hooks", "probe"]
