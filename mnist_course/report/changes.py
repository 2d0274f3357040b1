"""What changed from one model to the next, in sentences a student follows: the two
networks' layers aligned by place and kind (a depthwise convolution and the 1x1 after it
count as one depthwise-separable layer), each change said once for every layer it touched
("The second and third 3x3 convolutions after the pool narrow from 14 to 12 channels."),
and the recipe fields that differ, in words."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mnist_course.course.definition import CourseModel
from mnist_course.models.blocks import Conv, Layer, MaxPool, describe_layer, in_words
from mnist_course.report.format import joined


@dataclass(frozen=True)
class LayerRow:
    """One layer (or one depthwise-separable pair) of the two networks side by side.

    ``noun`` and ``place`` say which layer it is ("3x3 convolution", "after the pool"),
    ``ordinal`` and ``of`` its rank among the layers of that noun at that place (1-based,
    in the network it belongs to: the new one, or the old one for a removed layer), and
    ``parts`` what happened to it, each as a verb phrase for one layer and for several
    ("widens from 8 to 16 channels", "widen from 8 to 16 channels")."""

    before: str  # "" when the layer was added
    after: str  # "" when the layer was removed
    change: str  # "same", "changed", "added" or "removed"
    noun: str = ""
    place: str = ""
    ordinal: int = 1
    of: int = 1
    parts: tuple[tuple[str, str], ...] = ()
    of_all: int = 1  # layers of that noun in its network, every place together

    @property
    def text(self) -> str:
        """What happened to this one layer, as a sentence."""
        if self.change == "same":
            return ""
        return _sentence([self], list(self.parts))


# A unit: one layer, or a depthwise convolution with the 1x1 convolution after it that
# mixes its channels (a depthwise-separable convolution), which the pages treat as one.
Unit = tuple[Layer, ...]


def _units(layers: Sequence[Layer]) -> list[Unit]:
    units: list[Unit] = []
    k = 0
    while k < len(layers):
        layer, after = layers[k], layers[k + 1] if k + 1 < len(layers) else None
        if (isinstance(layer, Conv) and layer.depthwise and isinstance(after, Conv)
                and after.kernel == 1 and after.relu and not after.depthwise):
            units.append((layer, after))
            k += 2
        else:
            units.append((layer,))
            k += 1
    return units


def _kind(unit: Unit) -> tuple:
    """What makes two units "the same layer" at one place in the network: a convolution of
    one kernel size (full, factorised or depthwise-separable alike: a change a model may
    make), a lone depthwise convolution, the classifier (a convolution without ReLU, which
    may change its kernel), or a pool."""
    layer = unit[0]
    if isinstance(layer, Conv):
        if not layer.relu:
            return ("classifier",)
        if layer.depthwise and len(unit) == 1:
            return ("depthwise", layer.kernel)
        return ("conv", layer.kernel)
    return (type(layer).__name__,)


def _noun(unit: Unit, after_pool_transition: bool = False) -> str:
    layer = unit[0]
    if isinstance(layer, Conv):
        if not layer.relu:
            return "classifier convolution"
        if len(unit) == 2:
            return f"separable {layer.kernel}x{layer.kernel} convolution"
        if layer.depthwise:
            return f"depthwise {layer.kernel}x{layer.kernel} convolution"
        if layer.kernel == 1 and after_pool_transition:
            return "1x1 transition"
        if layer.factorised:
            return f"factorised {layer.kernel}x{layer.kernel} convolution"
        return f"{layer.kernel}x{layer.kernel} convolution"
    if isinstance(layer, MaxPool):
        return "max-pool"
    return "global average pool"


def _describe(unit: Unit) -> str:
    return " + ".join(describe_layer(layer) for layer in unit)


def _places(units: list[Unit]) -> list[tuple[str, str, int, int, int]]:
    """Each unit's (noun, place, ordinal, of, of_all): its place is its side of the first
    max-pool (none for pools and the classifier, or without a pool)."""
    pool = next((k for k, unit in enumerate(units) if isinstance(unit[0], MaxPool)), None)
    named = []
    for k, unit in enumerate(units):
        noun = _noun(unit, pool is not None and k == pool + 1)
        layer = unit[0]
        if pool is None or not isinstance(layer, Conv) or not layer.relu:
            place = ""
        else:
            place = "before the pool" if k < pool else "after the pool"
        named.append((noun, place))
    out = []
    for k, (noun, place) in enumerate(named):
        same = [j for j, other in enumerate(named) if other == (noun, place)]
        out.append((noun, place, same.index(k) + 1, len(same),
                    sum(other[0] == noun for other in named)))
    return out


def _with(layer: Conv) -> str:
    """What follows a convolution, in words: "with batch norm, ReLU and dropout 0.05"."""
    extras = [words for words, on in (
        ("batch norm" if layer.batch_norm_affine and layer.batch_norm_scale else
         "batch norm's shift only" if layer.batch_norm_affine else
         "batch norm without scale or shift", layer.batch_norm),
        ("ReLU", layer.relu), (f"dropout {layer.dropout:g}", layer.dropout)) if on]
    return "with " + joined(extras) if extras else ""


def _what(unit: Unit) -> str:
    """An added or removed unit's width and extras: "16 channels, with batch norm and
    ReLU"."""
    layer, last = unit[0], unit[-1]
    if not isinstance(layer, Conv):
        return ""
    words = f"{last.out_channels} channels"
    if layer.padding:
        words += f", padding {layer.padding}"
    if layer.stride != 1:
        words += f", stride {layer.stride}"
    extras = _with(last)
    return words + (f", {extras}" if extras else "")


def _both(singular: str, plural: str) -> tuple[str, str]:
    return singular, plural


def _conv_parts(before: Conv, after: Conv) -> list[tuple[str, str]]:
    """The differences between two convolutions at one place, each for one layer and for
    several."""
    parts = []
    if before.kernel != after.kernel:
        change = f"from {before.kernel}x{before.kernel} to {after.kernel}x{after.kernel}"
        parts.append(_both(f"changes its kernel {change}", f"change their kernels {change}"))
    if before.out_channels != after.out_channels:
        verb = "widens" if after.out_channels > before.out_channels else "narrows"
        change = f"from {before.out_channels} to {after.out_channels} channels"
        parts.append(_both(f"{verb} {change}", f"{verb[:-1]} {change}"))
    if before.padding != after.padding:
        change = f"{after.padding} pixel{'s' if after.padding != 1 else ''} of padding " \
                 f"instead of {before.padding}"
        parts.append(_both(f"takes {change}", f"take {change}"))
    if before.batch_norm != after.batch_norm:
        parts.append(_both("gains batch norm", "gain batch norm") if after.batch_norm
                     else _both("loses its batch norm", "lose their batch norm"))
    if before.dropout != after.dropout:
        if not before.dropout:
            parts.append(_both(f"gains dropout {after.dropout:g}",
                               f"gain dropout {after.dropout:g}"))
        elif not after.dropout:
            parts.append(_both(f"loses its dropout {before.dropout:g}",
                               f"lose their dropout {before.dropout:g}"))
        else:
            change = f"from {before.dropout:g} to {after.dropout:g}"
            parts.append(_both(f"changes its dropout {change}",
                               f"change their dropout {change}"))
    if before.stride != after.stride:
        change = f"stride {after.stride} instead of {before.stride}"
        parts.append(_both(f"moves with {change}", f"move with {change}"))
    if before.factorised != after.factorised:
        k = after.kernel
        parts.append(_both(f"is factorised into {k}x1 and 1x{k}",
                           f"are factorised into {k}x1 and 1x{k}") if after.factorised
                     else _both(f"is one {k}x{k} kernel again", f"are one {k}x{k} kernel again"))
    if (before.batch_norm_scale, before.batch_norm_affine) != (
            after.batch_norm_scale, after.batch_norm_affine):
        if not after.batch_norm_affine:
            parts.append(_both("keeps batch norm without scale or shift",
                               "keep batch norm without scale or shift"))
        elif not after.batch_norm_scale:
            parts.append(_both("keeps only batch norm's shift", "keep only batch norm's shift"))
        else:
            parts.append(_both("gets batch norm's scale and shift back",
                               "get batch norm's scale and shift back"))
    if before.shares != after.shares:
        parts.append(_both("has its own weights again", "have their own weights again")
                     if after.shares is None else
                     _both(f"reuses the weights of layer {after.shares}",
                           f"reuse the weights of layer {after.shares}"))
    if before.identity_init != after.identity_init:
        parts.append(_both("starts as the identity", "start as the identity")
                     if after.identity_init else
                     _both("starts from He noise alone", "start from He noise alone"))
    return parts


SEPARABLE_WORDS = ("a {k}x{k} kernel per channel, then a 1x1 convolution that mixes the "
                   "channels")


def _unit_parts(before: Unit, after: Unit) -> list[tuple[str, str]]:
    """What changed between two units of one kind at one place."""
    first, last = before[0], after[0]
    if not (isinstance(first, Conv) and isinstance(last, Conv)):
        return []
    parts = []
    if len(before) != len(after):  # a full convolution made separable, or back
        k = last.kernel
        parts.append(_both(f"becomes depthwise-separable: {SEPARABLE_WORDS.format(k=k)}",
                           f"become depthwise-separable: {SEPARABLE_WORDS.format(k=k)}")
                     if len(after) == 2 else
                     _both(f"is a full {k}x{k} convolution again",
                           f"are full {k}x{k} convolutions again"))
        # width and what follows from the layer that makes the output channels; the
        # kernel's own options from the layer that holds the kernel
        return parts + _conv_parts(dataclasses.replace(before[-1], kernel=last.kernel),
                                   dataclasses.replace(after[-1], kernel=last.kernel))
    if len(after) == 2:  # separable on both sides: the kernel, then the mixing layer
        parts += _conv_parts(first, last)
        mixing = _conv_parts(before[1], after[1])
        return parts + [p for p in mixing if p not in parts]
    return _conv_parts(first, last)


def layer_diff(previous: Sequence[Layer], current: Sequence[Layer]) -> list[LayerRow]:
    """Both networks side by side, aligned by each layer's place: layers of the same kind
    in the same order are one layer that changed (wider, narrower, batch norm added, made
    depthwise-separable); only layers with no counterpart of their kind are added or
    removed. A depthwise convolution and the 1x1 convolution after it are one layer."""
    rows: list[LayerRow] = []
    old, new = _units(previous), _units(current)
    old_names, new_names = _places(old), _places(new)
    matcher = difflib.SequenceMatcher(a=[_kind(unit) for unit in old],
                                      b=[_kind(unit) for unit in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                parts = _unit_parts(old[i], new[j])
                # a changed layer is named as the previous model had it, where the reader
                # knew it
                rows.append(LayerRow(_describe(old[i]), _describe(new[j]),
                                     "changed" if parts else "same", *old_names[i][:4],
                                     tuple(parts), old_names[i][4]))
            continue
        for i in range(i1, i2):
            what = _what(old[i])
            rows.append(LayerRow(_describe(old[i]), "", "removed", *old_names[i][:4],
                                 ((f"is gone{': it had ' + what if what else ''}",
                                   f"are gone{': each had ' + what if what else ''}"),),
                                 old_names[i][4]))
        for j in range(j1, j2):
            what = _what(new[j])
            rows.append(LayerRow("", _describe(new[j]), "added", *new_names[j][:4],
                                 ((f"is new{': ' + what if what else ''}",
                                   f"are new{': ' + what + ' each' if what else ''}"),),
                                 new_names[j][4]))
    return rows


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _ordinal(n: int) -> str:
    return _ORDINALS[n - 1] if n <= len(_ORDINALS) else f"{n}th"


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("x", "ss")) else "s")


def _subject(rows: Sequence[LayerRow]) -> tuple[str, bool]:
    """The layers ``rows`` name, as the subject of a sentence, and whether it takes a
    plural verb: "the 1x1 transition", "every 3x3 convolution", "both 3x3 convolutions
    before the pool", "the second 3x3 convolution before the pool and all four after it"."""
    noun = rows[0].noun
    if len(rows) > 1 and len(rows) == rows[0].of_all and len({r.place for r in rows}) > 1:
        return f"every {noun}", False
    phrases = []
    for place in dict.fromkeys(row.place for row in rows):
        here = [row for row in rows if row.place == place]
        of = here[0].of
        later = bool(phrases)  # a later place names the noun only by rank: "all four after it"
        where = f" {place.replace('the pool', 'it') if later else place}" if place else ""
        named = "" if later else f" {noun if len(here) == 1 else _plural(noun)}"
        if len(here) == of:
            name = ((f"the{named}" if named else "the one") if of == 1
                    else f"both{named}" if of == 2 else f"all {in_words(of)}{named}")
        else:
            name = f"the {joined([_ordinal(row.ordinal) for row in here])}{named}"
        phrases.append(name + where)
    return joined(phrases), len(rows) > 1


def _sentence(rows: Sequence[LayerRow], parts: Sequence[tuple[str, str]]) -> str:
    """The layers and what happened to them, as one sentence."""
    subject, plural = _subject(rows)
    text = f"{subject} {joined([part[1] if plural else part[0] for part in parts])}"
    return text[0].upper() + text[1:] + "."


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

# Every field of :class:`mnist_course.course.recipe.Recipe` (augmentation fields as
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


def _measured_changes(before: MeasuredLayer, after: MeasuredLayer) -> list[tuple[str, str]]:
    parts = []
    for name in ("kernel", "stride", "padding"):
        old, new = getattr(before, name), getattr(after, name)
        if old != new and old is not None and new is not None:
            parts.append(_both(f"changes its {name} from {old} to {new}",
                               f"change their {name} from {old} to {new}"))
    if before.channels != after.channels and before.kind.startswith("Conv"):
        verb = "widens" if (after.channels or 0) > (before.channels or 0) else "narrows"
        change = f"from {before.channels} to {after.channels} channels"
        parts.append(_both(f"{verb} {change}", f"{verb[:-1]} {change}"))
    return parts


def _measured_names(layers: Sequence[MeasuredLayer]) -> list[tuple[str, str, int, int, int]]:
    kinds = [layer.kind for layer in layers]
    return [(f"{kind} layer", "", kinds[:k].count(kind) + 1, kinds.count(kind),
             kinds.count(kind)) for k, kind in enumerate(kinds)]


def measured_diff(previous: Sequence[MeasuredLayer], current: Sequence[MeasuredLayer]
                  ) -> list[LayerRow]:
    """Like :func:`layer_diff`, for networks known only by their measured layers."""
    rows: list[LayerRow] = []
    old_names, new_names = _measured_names(previous), _measured_names(current)
    matcher = difflib.SequenceMatcher(a=[layer.kind for layer in previous],
                                      b=[layer.kind for layer in current], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                parts = _measured_changes(previous[i], current[j])
                rows.append(LayerRow(previous[i].describe(), current[j].describe(),
                                     "changed" if parts else "same", *old_names[i][:4],
                                     tuple(parts), old_names[i][4]))
            continue
        for i in range(i1, i2):
            what = previous[i].describe()
            rows.append(LayerRow(what, "", "removed", *old_names[i][:4],
                                 ((f"is gone: it was {what}", f"are gone: each was {what}"),),
                                 old_names[i][4]))
        for j in range(j1, j2):
            what = current[j].describe()
            rows.append(LayerRow("", what, "added", *new_names[j][:4],
                                 ((f"is new: {what}", f"are new: {what} each"),),
                                 new_names[j][4]))
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
        """One sentence per group of layers changed alike, in network order: a change made
        to several layers is said once for all of them ("Every 3x3 convolution gains batch
        norm."), and what happened to the same layers is said in one sentence."""
        groups: dict[tuple, list[int]] = {}
        for k, row in enumerate(self.layers):
            if row.change != "same":
                for part in row.parts:
                    groups.setdefault((row.noun, part), []).append(k)
        merged: dict[tuple[int, ...], list[tuple[str, str]]] = {}
        for (_, part), indices in groups.items():
            merged.setdefault(tuple(indices), []).append(part)
        return [_sentence([self.layers[k] for k in indices], parts)
                for indices, parts in merged.items()]

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
