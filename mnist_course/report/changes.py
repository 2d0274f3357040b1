"""What changed from one model to the next: layer lines and recipe fields, diffed."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
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
    if before.stride != after.stride:
        parts.append(f"stride {before.stride} → {after.stride}")
    if before.factorised != after.factorised:
        parts.append(f"factorised into {after.kernel}x1 and 1x{after.kernel}" if after.factorised
                     else f"one {after.kernel}x{after.kernel} kernel again")
    if (before.batch_norm_scale, before.batch_norm_affine) != (
            after.batch_norm_scale, after.batch_norm_affine):
        parts.append("batch norm " + ("without scale or shift" if not after.batch_norm_affine
                                      else "shift only" if not after.batch_norm_scale
                                      else "with its scale and shift"))
    if before.shares != after.shares:
        parts.append("its own weights" if after.shares is None
                     else f"the weights of layer {after.shares}")
    if before.identity_init != after.identity_init:
        parts.append("starts as the identity" if after.identity_init
                     else "starts from He noise alone")
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


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "–" if value is None else str(value)


@dataclass(frozen=True)
class FieldWords:
    """How one recipe field reads: ``phrase`` with its value (``{}``) in words and a
    ``note`` after it, the words for its "off" value (the default that means "not used"),
    and how a value is written."""

    phrase: str  # "label smoothing {}"
    off_value: Any = None  # the value that means the option is not used (None: none)
    off: str = ""  # the words for it: "no label smoothing"
    value: Callable[[Any], str] = _show
    note: str = ""  # what the value means, said after it (and after "instead of ...")

    def state(self, value: Any, instead_of: Any = None) -> str:
        """The field at ``value`` in words; with ``instead_of``, the value it replaced."""
        if self.off_value is not None and value == self.off_value:
            return self.off
        was = "" if instead_of is None else f" instead of {self.value(instead_of)}"
        return self.phrase.format(self.value(value)) + was + (
            f" ({self.note})" if self.note else "")


def _thousands(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else _show(value)


def _percent(value: Any) -> str:
    return f"{value * 100:g} %" if isinstance(value, int | float) else _show(value)


def _degrees(value: Any) -> str:
    return f"{value:g}°" if isinstance(value, int | float) else _show(value)


_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
_SCHEDULES = {"none": "none", "step": "step decay", "plateau": "reduce on plateau",
              "onecycle": "one-cycle"}

# Every field of :class:`mnist_course.recipe.Recipe` (augmentation fields as
# ``augmentation.NAME``), in words; tests/test_changes.py checks that none is missing.
RECIPE_WORDS: dict[str, FieldWords] = {
    "epochs": FieldWords("trained for {} epochs"),
    "batch_size": FieldWords("batches of {} images", value=_thousands),
    "optimizer": FieldWords("the {} optimizer", value=lambda v: _OPTIMIZERS.get(v, _show(v))),
    "lr": FieldWords("learning rate {}", note="with one-cycle, its peak"),
    "momentum": FieldWords("SGD momentum {}", 0.0, "SGD without momentum"),
    "beta1": FieldWords("Adam's beta1 {}", note="the decay of the gradient's running mean"),
    "beta2": FieldWords("Adam's beta2 {}",
                        note="the decay of the squared gradient's running mean"),
    "nesterov": FieldWords("Nesterov momentum", False, "plain (not Nesterov) momentum"),
    "weight_decay": FieldWords("weight decay {}", 0.0, "no weight decay"),
    "schedule": FieldWords("learning-rate schedule: {}", "none",
                           "a constant learning rate (no schedule)",
                           value=lambda v: _SCHEDULES.get(v, _show(v))),
    "step_size": FieldWords("step schedule: the rate drops every {} epochs"),
    "gamma": FieldWords("the schedule multiplies the rate by {} at each drop"),
    "patience": FieldWords("plateau schedule: the rate drops after {} epochs",
                           note="epochs in a row without improvement"),
    "warmup_fraction": FieldWords("one-cycle: the rate peaks {} of the way through the cycle",
                                  value=_percent),
    "div_factor": FieldWords("one-cycle: the rate starts at the peak divided by {}"),
    "final_div_factor": FieldWords("one-cycle: the rate ends at its start divided by {}"),
    "augmentation.rotation": FieldWords("training images rotated by up to ±{}", 0.0,
                                        "no rotation of the training images", _degrees),
    "augmentation.translate": FieldWords("training images shifted by up to ±{}", 0.0,
                                         "no shift of the training images", _percent,
                                         "of their size, along each axis"),
    "augmentation.scale": FieldWords("training images scaled by up to ±{}", 0.0,
                                     "no scaling of the training images", _percent),
    "augmentation.shear": FieldWords("training images sheared by up to ±{}", 0.0,
                                     "no shear of the training images", _degrees),
    "label_smoothing": FieldWords("label smoothing {}", 0.0, "no label smoothing",
                                  note="that share of each target spread over the other "
                                       "digits"),
    "anneal_epochs": FieldWords("the one-cycle ends after epoch {}", 0,
                                "the one-cycle spans every epoch",
                                note="later epochs keep its final rate"),
    "bn_recalibration": FieldWords("batch-norm statistics recomputed on {} training images",
                                   0, "batch norm tested with its running averages (no "
                                   "recomputation)", _thousands, "before each test"),
    "ema_decay": FieldWords("weights averaged with decay {}", 0.0,
                            "the last weights tested (no averaging)",
                            note="the average is what is tested"),
}


def change_words(name: str, before: Any, after: Any) -> str:
    """One recipe change as a reader says it: "batch-norm statistics recomputed on 10,000
    training images (before each test)", "learning rate 0.1 instead of 0.01 (with
    one-cycle, its peak)". A field the table does not know reads "recipe field name: a → b"."""
    words = RECIPE_WORDS.get(name)
    if words is None:
        return f"recipe field {name}: {_show(before)} → {_show(after)}"
    if before is None or (words.off_value is not None and
                          (before == words.off_value or after == words.off_value)):
        return words.state(after)
    return words.state(after, instead_of=before)


def recipe_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every recipe field that differs, in words (see :func:`change_words`)."""
    before, after = _flatten(previous), _flatten(current)
    order = list(RECIPE_WORDS)  # the recipe's own order: the schedule before its details
    names = sorted(set(before) | set(after),
                   key=lambda name: (order.index(name) if name in order else len(order), name))
    return [change_words(name, before.get(name), after.get(name))
            for name in names if before.get(name) != after.get(name)]


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
    recipe: list[str]  # each recipe change in words (see :func:`recipe_changes`)
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
    recipe = recipe_changes(previous.recipe.to_dict(), model.recipe.to_dict())
    if model.from_spec and previous.from_spec:
        return ModelChanges(previous, layer_diff(previous.architecture, model.architecture),
                            recipe)
    return ModelChanges(previous, measured_diff(measured_layers(previous_architecture),
                                                measured_layers(architecture)),
                        recipe, source_diff(previous, model))
