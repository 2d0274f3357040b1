"""What changed from one model to the next: layer lines and recipe fields, diffed."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..course import CourseModel
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


# ----------------------------------------------------------------------------------------
# Networks written as code (build=): aligned from their architecture.json rows


@dataclass(frozen=True)
class MeasuredLayer:
    """One layer of a ``build=`` network as its architecture summary measured it."""

    kind: str  # the module's class, "Conv2d"
    channels: int | None  # output channels
    kernel: int | None = None
    stride: int | None = None
    padding: int | None = None

    def describe(self) -> str:
        window = (f" {self.kernel}x{self.kernel}" if self.kernel else "") + (
            f", stride {self.stride}" if self.stride and self.stride != 1 else "") + (
            f", pad {self.padding}" if self.padding else "")
        width = f" → {self.channels}" if self.channels is not None and self.kind.startswith(
            "Conv") else ""
        return f"{self.kind}{window}{width}"


def measured_layers(architecture: dict | None) -> list[MeasuredLayer]:
    """The layers that shape a network (convolutions, pooling, normalisation, dropout):
    kind, output channels and, from the receptive-field table, kernel, stride, padding."""
    if not architecture:
        return []
    windows = {row["name"]: row for row in architecture.get("receptive_field", [])}
    layers = []
    for row in architecture.get("layers", []):
        kind = str(row.get("kind", "?"))
        if kind in ("ReLU", "Identity", "Flatten") or (
                not row.get("params") and row["name"] not in windows
                and not kind.startswith("Dropout")):
            continue
        shape = row.get("output_shape") or []
        window = windows.get(row["name"], {})
        layers.append(MeasuredLayer(kind, shape[0] if shape else None, window.get("kernel"),
                                    window.get("stride"), window.get("padding")))
    return layers


def _measured_changes(before: MeasuredLayer, after: MeasuredLayer) -> list[str]:
    parts = []
    for name, unit in (("kernel", ""), ("stride", ""), ("padding", "")):
        old, new = getattr(before, name), getattr(after, name)
        if old != new and old is not None and new is not None:
            parts.append(f"{name} {old}{unit} → {new}{unit}")
    if before.channels != after.channels and before.kind.startswith("Conv"):
        parts.append(f"{before.channels} → {after.channels} channels")
    return parts


def measured_diff(previous: Sequence[MeasuredLayer], current: Sequence[MeasuredLayer]
                  ) -> list[LayerRow]:
    """Like :func:`layer_diff`, for networks known only by their measured layers."""
    rows: list[LayerRow] = []
    matcher = difflib.SequenceMatcher(a=[layer.kind for layer in previous],
                                      b=[layer.kind for layer in current], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for before, after in zip(previous[i1:i2], current[j1:j2], strict=True):
                parts = _measured_changes(before, after)
                rows.append(LayerRow(before.describe(), after.describe(),
                                     "changed" if parts else "same",
                                     f"{after.kind}: {', '.join(parts)}" if parts else ""))
            continue
        rows += [LayerRow(layer.describe(), "", "removed", f"removed: {layer.describe()}")
                 for layer in previous[i1:i2]]
        rows += [LayerRow("", layer.describe(), "added", f"added: {layer.describe()}")
                 for layer in current[j1:j2]]
    return rows


def source_diff(previous: CourseModel, model: CourseModel) -> str:
    """A unified diff of the code two ``build=`` models are made of ("" when the same)."""
    def text(m: CourseModel) -> list[str]:
        return "\n\n".join(part.get("source", "") for part in m.architecture_json()
                           ).splitlines()
    if previous.from_spec or model.from_spec:
        return ""
    return "\n".join(difflib.unified_diff(text(previous), text(model), previous.id, model.id,
                                          lineterm="", n=2))


@dataclass(frozen=True)
class ModelChanges:
    previous: CourseModel
    layers: list[LayerRow]
    recipe: list[tuple[str, str, str]]
    code: str = ""  # unified diff of the two models' code (build= models)

    @property
    def code_lines(self) -> int:
        """Lines the code diff adds or removes (not its ``---``/``+++`` header)."""
        return sum(1 for line in self.code.splitlines()
                   if line[:1] in "+-" and not line.startswith(("+++", "---")))

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


def model_changes(model: CourseModel, previous: CourseModel | None,
                  architecture: dict | None = None, previous_architecture: dict | None = None
                  ) -> ModelChanges | None:
    """What ``model`` changes of ``previous``: layer by layer (from the layer specs, or for
    networks written as code from their measured ``architecture.json``), the recipe, and
    for code the diff of the source."""
    if previous is None:
        return None
    recipe = recipe_diff(previous.recipe.to_dict(), model.recipe.to_dict())
    if model.from_spec and previous.from_spec:
        return ModelChanges(previous, layer_diff(previous.architecture, model.architecture),
                            recipe)
    return ModelChanges(previous, measured_diff(measured_layers(previous_architecture),
                                                measured_layers(architecture)),
                        recipe, source_diff(previous, model))
