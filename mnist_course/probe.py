"""One dummy image through a model in eval mode: the forward pass the layer summary and
the receptive-field trace measure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


__all__ = ["probe"]
