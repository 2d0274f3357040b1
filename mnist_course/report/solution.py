"""The Solution page: the course's final model on one page, first after Home.

Its diagram is drawn from the model's stored ``architecture.json``: one block per row of
the receptive-field table (a convolution, a pool, the global average pool), each with the
layers that follow it before the next row (batch norm, ReLU, dropout) folded in, so a
block shows what a reader counts: its output shape, its receptive field and every
parameter it holds. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

SOLUTION_PAGE = "solution.md"

# How a block names the operation of its receptive-field row.
_OPERATIONS = {"Conv2d": "conv", "MaxPool2d": "max-pool", "AvgPool2d": "average pool",
               "AdaptiveAvgPool2d": "global average pool"}
# The layers a block folds in after its operation, by the names a reader knows.
_FOLDED = {"BatchNorm2d": "batch norm", "ReLU": "ReLU", "Dropout": "dropout",
           "Dropout2d": "dropout", "MaskDropout": "dropout"}


@dataclass(frozen=True)
class Block:
    operation: str  # "3x3 conv", "max-pool", "global average pool"
    family: str  # conv | pool: how the diagram colours it
    then: tuple[str, ...]  # the layers folded in after it: ("batch norm", "ReLU")
    channels: int  # output channels
    size: int  # output height (= width)
    receptive_field: int  # pixels of the input one output pixel sees, per side
    params: int  # the operation's and the folded layers' parameters


def network_blocks(architecture: dict) -> list[Block]:
    """The diagram's blocks, in the order of the forward pass (see the module's docstring).
    A layer before the first receptive-field row (there is none in a plain network) is
    left out rather than guessed at."""
    rows = {row["name"]: row for row in architecture.get("receptive_field") or []}
    blocks: list[dict] = []
    for layer in architecture.get("layers") or []:
        row = rows.get(layer["name"])
        if row is not None:
            kind = row["kind"]
            operation = _OPERATIONS.get(kind, kind)
            if kind == "Conv2d":
                operation = f"{row['kernel']}x{row['kernel']} {operation}"
            blocks.append({"operation": operation,
                           "family": "conv" if kind == "Conv2d" else "pool",
                           "then": [], "channels": layer["output_shape"][0],
                           "size": row["size_out"], "receptive_field": row["rf_out"],
                           "params": layer["params"]})
        elif blocks:
            block = blocks[-1]
            name = _FOLDED.get(layer["kind"])
            if name and name not in block["then"]:
                block["then"].append(name)
            block["params"] = block["params"] + layer["params"]
    return [Block(**{**block, "then": tuple(block["then"])}) for block in blocks]


__all__ = ["SOLUTION_PAGE", "Block", "network_blocks"]
