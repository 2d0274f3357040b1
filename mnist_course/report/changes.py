"""What changed from one model to the next: layer lines and recipe fields, diffed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models import CourseModel
from ..models.blocks import Conv, Layer, describe_layer


@dataclass(frozen=True)
class LayerRow:
    before: str  # "" when the layer was added
    after: str  # "" when the layer was removed
    change: str  # "same", "changed", "added" or "removed"
    text: str = ""  # what happened to the layer, in words ("3x3 conv: 16 → 8 channels")


def _kind(layer: Layer) -> tuple:
    """What makes two layers "the same layer" at one place in the network: its type, its
    kernel, and whether it is the classifier (a convolution without ReLU). Width, padding,
    batch norm and dropout are what a model may change about that layer."""
    if isinstance(layer, Conv):
        # The classifier may change its kernel (8x8 -> 6x6 -> 1x1) and stay the classifier.
        return ("conv", layer.kernel if layer.relu else None, layer.depthwise, layer.relu)
    return (type(layer).__name__,)


def _name(layer: Layer) -> str:
    if isinstance(layer, Conv):
        kind = "depthwise conv" if layer.depthwise else "conv"
        if not layer.relu:
            return f"classifier {kind}"
        return f"{layer.kernel}x{layer.kernel} {kind}"
    return describe_layer(layer)


def _what_changed(before: Layer, after: Layer) -> list[str]:
    """The differences between two layers of the same kind at the same place."""
    if not (isinstance(before, Conv) and isinstance(after, Conv)):
        return []
    parts = []
    if before.kernel != after.kernel:
        parts.append(f"kernel {before.kernel}x{before.kernel} → {after.kernel}x{after.kernel}")
    if before.out_channels != after.out_channels:
        parts.append(f"{before.out_channels} → {after.out_channels} channels")
    if before.padding != after.padding:
        parts.append(f"padding {before.padding} → {after.padding}")
    if before.batch_norm != after.batch_norm:
        parts.append("batch norm " + ("added" if after.batch_norm else "removed"))
    if before.dropout != after.dropout:
        parts.append(f"dropout {after.dropout:g} added" if not before.dropout else
                     f"dropout {before.dropout:g} removed" if not after.dropout else
                     f"dropout {before.dropout:g} → {after.dropout:g}")
    return parts


def layer_diff(previous: Sequence[Layer], current: Sequence[Layer]) -> list[LayerRow]:
    """Both networks side by side, aligned by each layer's place: layers of the same kind
    in the same order are one layer that changed (wider, narrower, batch norm added);
    only layers with no counterpart of their kind are added or removed."""
    rows: list[LayerRow] = []
    matcher = difflib.SequenceMatcher(a=[_kind(layer) for layer in previous],
                                      b=[_kind(layer) for layer in current], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for before, after in zip(previous[i1:i2], current[j1:j2], strict=True):
                parts = _what_changed(before, after)
                rows.append(LayerRow(describe_layer(before), describe_layer(after),
                                     "changed" if parts else "same",
                                     f"{_name(after)}: {', '.join(parts)}" if parts else ""))
            continue
        rows += [LayerRow(describe_layer(layer), "", "removed",
                          f"removed: {describe_layer(layer)}") for layer in previous[i1:i2]]
        rows += [LayerRow("", describe_layer(layer), "added",
                          f"added: {describe_layer(layer)}") for layer in current[j1:j2]]
    return rows


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def recipe_diff(previous: dict[str, Any], current: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, before, after) for every recipe field that differs."""
    before, after = _flatten(previous), _flatten(current)
    return [(name, _show(before.get(name)), _show(after.get(name)))
            for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)


@dataclass(frozen=True)
class ModelChanges:
    previous: CourseModel
    layers: list[LayerRow]
    recipe: list[tuple[str, str, str]]

    @property
    def lines(self) -> list[str]:
        """One line per distinct change, in network order; a change made to several layers
        alike ("3x3 conv: batch norm added") is one line with the number of layers."""
        counts: dict[str, int] = {}
        for row in self.layers:
            if row.change != "same":
                counts[row.text] = counts.get(row.text, 0) + 1
        return [text if n == 1 else f"{text} ({n} layers)" for text, n in counts.items()]

    @property
    def layers_changed(self) -> bool:
        return any(row.change != "same" for row in self.layers)


def model_changes(model: CourseModel, previous: CourseModel | None) -> ModelChanges | None:
    if previous is None:
        return None
    return ModelChanges(previous, layer_diff(previous.architecture or (),
                                             model.architecture or ()),
                        recipe_diff(previous.recipe.to_dict(), model.recipe.to_dict()))
