"""The Concepts pages: one idea per page, its formulas worked on the course's own models.

Which model uses which idea is read from the model's layers and recipe (never listed by
hand): each idea's page links to every model built from it, and a model page links to the
ideas its own change touches (:func:`concepts_of_change`), each idea saying which part of
a model it is about (``Concept.about``). The worked examples recompute the stored numbers
with the page's own formulas (:func:`worked_receptive_field`, :func:`worked_parameters`,
:func:`separable_blocks`), so a formula that disagreed with ``architecture.json`` would
show on the page and in the tests. Torch-free, like the rest of the report layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.recipe import averaging_decay
from mnist_course.models.blocks import Conv, GlobalAvgPool, spec_parameters
from mnist_course.report.model_results import ModelResults, comparison_context
from mnist_course.sourced import sourced_json
from mnist_course.store.concept_measures import (
    AUGMENTATION_FIGURE,
    CONCEPTS_FILE,
    load_concepts,
    load_figure_manifest,
    recalibration_key,
)
from mnist_course.summary import summarize
from mnist_course.training.mnist_files import RAW_FILES


def _convs(model: CourseModel) -> list[Conv]:
    return [layer for layer in model.architecture or () if isinstance(layer, Conv)]


def _has_transition(model: CourseModel) -> bool:
    """A hidden 1x1 convolution (the classifier's 1x1 makes logits, it mixes no features)."""
    return any(c.kernel == 1 and c.relu for c in _convs(model))


def _has_gap(model: CourseModel) -> bool:
    return any(isinstance(layer, GlobalAvgPool) for layer in model.architecture or ())


def _field_layers(model: CourseModel) -> tuple | None:
    """What the receptive field depends on: every layer's window and step. A 1x1
    convolution with stride 1 widens no field, so it is left out: adding one changes
    the network, not what its outputs see."""
    if model.architecture is None:
        return None
    return tuple((type(layer).__name__, getattr(layer, "kernel", None),
                  getattr(layer, "stride", 1), getattr(layer, "padding", 0),
                  getattr(layer, "factorised", False))
                 for layer in model.architecture
                 if not (isinstance(layer, Conv) and layer.kernel == 1 and layer.stride == 1))


def _transitions(model: CourseModel) -> tuple:
    return tuple((i, c.out_channels) for i, c in enumerate(_convs(model))
                 if c.kernel == 1 and c.relu)


def _schedule(model: CourseModel) -> tuple:
    r = model.recipe
    if r.schedule != "onecycle":
        return (r.schedule,)
    return (r.schedule, r.lr, r.div_factor, r.final_div_factor, r.warmup_fraction,
            r.anneal_epochs or r.epochs)


def _classifies_with_a_kernel(model: CourseModel) -> bool:
    """Either side of the GAP idea: a global average pool, or a classifier kernel > 1x1."""
    convs = _convs(model)
    return (any(isinstance(layer, GlobalAvgPool) for layer in model.architecture or ())
            or bool(convs and convs[-1].kernel > 1))


@dataclass(frozen=True)
class Concept:
    slug: str  # the page's file name in docs/concepts/
    title: str
    summary: str  # one line for the index and the model pages
    uses: Callable[[CourseModel], bool] = field(compare=False)  # from layers and recipe
    # What a model adds when the course introduces the idea, where that is narrower than
    # ``uses`` (every model classifies somehow; the GAP idea starts where GAP appears).
    marker: Callable[[CourseModel], bool] | None = field(default=None, compare=False)
    # The part of a model the idea is about (its kernels and pools, its dropout rates, its
    # weight decay): a model whose ``about`` differs from its previous model's changed
    # something this idea explains. None: whether the model uses the idea.
    about: Callable[[CourseModel], object] | None = field(default=None, compare=False)

    def marks(self, model: CourseModel) -> bool:
        return (self.marker or self.uses)(model)

    def part_of(self, model: CourseModel) -> object:
        return (self.about or self.uses)(model)


CONCEPTS: tuple[Concept, ...] = (
    Concept("receptive-field", "Receptive field",
            "how many input pixels one output sees: output size, jump and field per layer",
            lambda m: bool(_convs(m)), about=_field_layers),
    Concept("parameters", "Parameters of a convolution",
            "where the parameter budget goes, and why batch norm makes the bias redundant",
            lambda m: bool(_convs(m)),
            about=lambda m: spec_parameters(m.architecture) if m.architecture else None),
    Concept("transition", "The 1x1 transition",
            "mixing and squeezing channels without looking at neighbours",
            _has_transition, about=_transitions),
    Concept("gap", "GAP against the big classifier kernel",
            "turning the last feature map into ten scores, with or without weights",
            _classifies_with_a_kernel, _has_gap,
            about=lambda m: (_has_gap(m), _convs(m)[-1].kernel if _convs(m) else None)),
    Concept("batch-norm", "How batch normalisation works",
            "standardising every channel over the batch, with a learned scale and shift",
            lambda m: any(c.batch_norm for c in _convs(m)),
            about=lambda m: frozenset((c.batch_norm, c.batch_norm_scale, c.batch_norm_affine)
                                      for c in _convs(m) if c.relu)),
    Concept("dropout", "How dropout works",
            "zeroing random activations during training",
            lambda m: any(c.dropout > 0 for c in _convs(m)),
            about=lambda m: frozenset(c.dropout for c in _convs(m))),
    Concept("augmentation", "Augmentation",
            "showing the network randomly rotated training digits",
            lambda m: m.recipe.augmentation.enabled, about=lambda m: m.recipe.augmentation),
    Concept("one-cycle", "The one-cycle schedule",
            "a learning rate that climbs, then anneals and settles",
            lambda m: m.recipe.schedule == "onecycle", about=_schedule),
    Concept("weight-decay", "Weight decay with batch norm",
            "why shrinking scale-free weights makes every step larger",
            lambda m: m.recipe.weight_decay > 0, about=lambda m: m.recipe.weight_decay),
    Concept("bn-recalibration", "Batch-norm recalibration",
            "testing with statistics recomputed for the weights being tested",
            lambda m: m.recipe.bn_recalibration > 0,
            about=lambda m: m.recipe.bn_recalibration),
    Concept("weight-averaging", "Weight averaging",
            "testing a moving average of the recent weights instead of the last ones",
            lambda m: m.recipe.ema_decay > 0, about=lambda m: m.recipe.ema_decay),
    Concept("depthwise-separable", "Depthwise-separable convolutions",
            "a filter per channel, then a 1x1 mix: the same window for far fewer weights",
            lambda m: any(c.depthwise for c in _convs(m)),
            about=lambda m: tuple((i, c.kernel, c.identity_init)
                                  for i, c in enumerate(_convs(m)) if c.depthwise)),
)
CONCEPTS_INDEX = "concepts/index.md"


def concept_page(concept: Concept) -> str:
    return f"concepts/{concept.slug}.md"


def concepts_used(model: CourseModel) -> list[Concept]:
    """The ideas ``model`` is built from, in the order the Concepts part teaches them."""
    return [concept for concept in CONCEPTS if concept.uses(model)]


def concepts_of_change(model: CourseModel, previous: CourseModel | None) -> list[Concept]:
    """The ideas behind what ``model`` changes against ``previous``: those it or
    ``previous`` uses whose part of the model differs (an idea dropped counts, as dropout
    does where the course removes it). A model without a previous one is built from all
    the ideas it uses."""
    if previous is None:
        return concepts_used(model)
    return [concept for concept in CONCEPTS
            if (concept.uses(model) or concept.uses(previous))
            and concept.part_of(model) != concept.part_of(previous)]


def _first_change(concept: Concept, models: list[ModelResults], added: bool
                  ) -> tuple[ModelResults, ModelResults] | None:
    by_id = {r.model.id: r for r in models}
    for results in models:
        previous = by_id.get(results.model.previous or "")
        if previous and (concept.marks(results.model), concept.marks(previous.model)) == (
                added, not added):
            return results, previous
    return None


def introduced_by(concept: Concept, models: list[ModelResults]
                  ) -> tuple[ModelResults, ModelResults] | None:
    """(the first model that uses ``concept`` while the model it changes did not, that
    model): where the course shows what the idea does."""
    return _first_change(concept, models, added=True)


def removed_by(concept: Concept, models: list[ModelResults]
               ) -> tuple[ModelResults, ModelResults] | None:
    """(the first model that drops ``concept`` its previous model used, that model)."""
    return _first_change(concept, models, added=False)


# ----------------------------------------------------------------------------------------
# Worked examples: the page's formulas applied to the stored rows


def worked_receptive_field(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each ``architecture.json`` receptive-field row with the recurrences applied to its
    inputs (kernel, stride, padding, dilation and the size, jump and field coming in),
    and whether they give the stored outputs."""
    worked = []
    for row in rows:
        effective = row["dilation"] * (row["kernel"] - 1) + 1
        size = (row["size_in"] + 2 * row["padding"] - effective) // row["stride"] + 1
        jump = row["jump_in"] * row["stride"]
        field_out = row["rf_in"] + (effective - 1) * row["jump_in"]
        worked.append({**row, "effective": effective, "size": size, "jump": jump,
                       "field": field_out,
                       "agrees": (size, jump, field_out) == (row["size_out"], row["jump_out"],
                                                            row["rf_out"])})
    return worked


def worked_parameters(model: CourseModel, architecture: dict[str, Any]
                      ) -> list[dict[str, Any]]:
    """Each convolution and batch-norm row of ``architecture.json`` with its parameters
    recomputed: k·k·C_in·C_out weights (C_in = 1 per group for a depthwise convolution),
    a bias of C_out unless batch norm follows, 2·C for batch norm's scale and shift.
    Kernels come from the receptive-field rows, channels from the output shapes, and
    which convolutions carry batch norm from the model's layer spec."""
    kernels = {row["name"]: row["kernel"] for row in architecture["receptive_field"]}
    specs = iter(_convs(model))
    channels, worked = 1, []
    for row in architecture["layers"]:
        out = (row.get("output_shape") or [0])[0]
        if row["kind"] == "Conv2d":
            spec = next(specs)
            k = kernels[row["name"]]
            inputs = 1 if spec.depthwise else channels
            weights = k * k * inputs * out
            bias = 0 if spec.batch_norm else out
            worked.append({**row, "what": "conv", "kernel": k, "c_in": inputs, "c_out": out,
                           "weights": weights, "bias": bias, "computed": weights + bias,
                           "batch_norm": spec.batch_norm, "depthwise": spec.depthwise,
                           "relu": spec.relu,
                           "transition": k == 1 and spec.relu,
                           "agrees": weights + bias == row["params"]})
            channels = out
        elif row["kind"].startswith("BatchNorm"):
            worked.append({**row, "what": "bn", "c_out": out, "computed": 2 * out,
                           "agrees": 2 * out == row["params"]})
    return worked


def classifier_kernel(results: ModelResults) -> dict[str, Any] | None:
    """The last convolution of a stored model: its kernel, channels and parameters."""
    if not results.architecture:
        return None
    rows = [r for r in worked_parameters(results.model, results.architecture)
            if r["what"] == "conv"]
    return rows[-1] if rows else None


def separable_blocks(model: CourseModel, architecture: dict[str, Any]
                     ) -> list[dict[str, Any]]:
    """Each depthwise convolution of a stored model with the 1x1 convolution that mixes its
    channels: k·k·C depthwise and C·C_out pointwise weights against the k·k·C·C_out of a
    full convolution of the same window and widths, and the receptive field before the
    pair, after its depthwise half and after the pair (from ``architecture.json``)."""
    convs = [r for r in worked_parameters(model, architecture) if r["what"] == "conv"]
    fields = {row["name"]: row for row in worked_receptive_field(architecture["receptive_field"])}
    blocks = []
    for depthwise, pointwise in zip(convs, convs[1:], strict=False):
        if not depthwise["depthwise"] or pointwise["kernel"] != 1 or pointwise["depthwise"]:
            continue
        k, channels, out = depthwise["kernel"], depthwise["c_out"], pointwise["c_out"]
        separable = depthwise["weights"] + pointwise["weights"]
        full = k * k * channels * out
        blocks.append({
            "depthwise": depthwise, "pointwise": pointwise, "kernel": k, "c": channels,
            "c_out": out, "depthwise_weights": depthwise["weights"],
            "pointwise_weights": pointwise["weights"], "separable": separable, "full": full,
            "share": 100 * separable / full,
            "field_in": fields[depthwise["name"]]["rf_in"],
            "field_depthwise": fields[depthwise["name"]]["rf_out"],
            "field_out": fields[pointwise["name"]]["rf_out"],
            "agrees": depthwise["agrees"] and pointwise["agrees"]
            and depthwise["weights"] == k * k * channels,
        })
    return blocks


def field_before_pooling(architecture: dict[str, Any] | None) -> int | None:
    """The receptive field of the last layer before global average pooling (of the last
    layer when there is none): how much of the digit the network sees before it averages."""
    if not architecture:
        return None
    rows = architecture["receptive_field"]
    for before, row in zip(rows, rows[1:], strict=False):
        if row["kind"] == "AdaptiveAvgPool2d":
            return before["rf_out"]
    return rows[-1]["rf_out"] if rows else None


def training_steps(model: CourseModel) -> int:
    """Optimiser steps in one epoch: the MNIST training images in batches of the recipe's
    size, the last one short."""
    images = RAW_FILES["train-images-idx3-ubyte"][0]
    return -(-images // model.recipe.batch_size)


def averaging_schedule(decay: float, steps_per_epoch: int, epochs: int) -> dict[str, Any]:
    """The weight average's decay over a run (:func:`mnist_course.course.recipe.averaging_decay`):
    at the first update, where the warm-up reaches ``decay`` (and whether the run gets
    there) and at the last update, with the number of recent steps the average spans
    there, 1 / (1 - decay)."""
    total = steps_per_epoch * epochs
    reached = 1
    while averaging_decay(decay, reached) < decay:  # the first update at the full decay
        reached += 1
    last = averaging_decay(decay, total)
    return {"decay": decay, "first": averaging_decay(decay, 1), "reached_at": reached,
            "reached_epoch": reached / steps_per_epoch, "reached": total >= reached,
            "updates": total, "steps_per_epoch": steps_per_epoch, "epochs": epochs,
            "last": last, "span": 1 / (1 - decay), "last_span": 1 / (1 - last),
            "last_span_epochs": 1 / (1 - last) / steps_per_epoch}


def paired_seeds(current: ModelResults, previous: ModelResults) -> list[dict[str, Any]]:
    """Per seed both models ran: each one's mean and spread (highest minus lowest) of the
    last test epochs, and the difference of the means, from the unrounded values."""
    by_seed = {r["seed"]: summarize(r) for r in previous.records}
    rows = []
    for record in current.records:
        before = by_seed.get(record["seed"])
        if before is None:
            continue
        after = summarize(record)
        rows.append({"seed": record["seed"], "previous": before.last5_mean,
                     "current": after.last5_mean,
                     "difference": after.last5_mean - before.last5_mean,
                     "previous_spread": before.last5_max - before.last5_min,
                     "current_spread": after.last5_max - after.last5_min})
    return rows


# ----------------------------------------------------------------------------------------
# What the build measured (torch side), as the pages need it


@dataclass(frozen=True)
class ConceptData:
    """The build-time measurements, read back from their files."""

    recalibration: dict | None = None  # concepts.json's bn_recalibration record
    recalibration_current: bool = False  # its key matches the stored weights today
    augmentation_figure: dict | None = None  # the figure manifest's entry, file included


def load_concept_data(course: Course, results_dir: Path, docs_dir: Path) -> ConceptData:
    if not course.concepts:
        return ConceptData()
    stored = sourced_json((load_concepts(results_dir) or {}).get("bn_recalibration"),
                          CONCEPTS_FILE, ("bn_recalibration",))
    key = recalibration_key(results_dir, course, course.get(course.final))
    figure = load_figure_manifest(docs_dir).get("augmentation")
    if not (figure and (Path(docs_dir) / AUGMENTATION_FIGURE).exists()):
        figure = None
    return ConceptData(stored, bool(stored) and stored.get("key") == key, figure)


def recalibration_summary(record: dict) -> dict[str, Any]:
    """Means over seeds and the EMA's weights, from concepts.json's record."""
    seeds = record["seeds"]
    momentum = record.get("momentum")

    def mean(name: str) -> float:
        return sum(s[name] for s in seeds) / len(seeds)

    return {
        "running_mean": mean("running_accuracy"),
        "recalibrated_mean": mean("recalibrated_accuracy"),
        # from the unrounded means, rounded once where it is printed
        "difference": mean("recalibrated_accuracy") - mean("running_accuracy"),
        "better": sum(s["recalibrated_accuracy"] > s["running_accuracy"] for s in seeds),
        "worse": sum(s["recalibrated_accuracy"] < s["running_accuracy"] for s in seeds),
        "last20_share": 1 - (1 - momentum) ** 20 if momentum else None,
        "forgotten": (1 - momentum) ** record["replayed_batches"] if momentum else None,
        "recalibration_batches": -(-record["recalibration_images"]
                                   // record["recalibration_batch"]),
        "matches_recorded": all(s["recalibrated_accuracy"] == s["recorded_last_epoch_accuracy"]
                                for s in seeds),
    }


def concept_context(concept: Concept, models: list[ModelResults],
                    figures: dict[str, dict[str, str]], data: ConceptData,
                    final_id: str | None) -> dict[str, Any]:
    """Everything one concept page shows, computed from the stored results; the worked
    examples use the model ``final_id``."""
    by_id = {r.model.id: r for r in models}
    final = by_id.get(final_id)
    architecture = final.architecture if final else None
    context: dict[str, Any] = {
        "concept": concept, "users": [r for r in models if concept.uses(r.model)],
        "intro": None, "removal": None,
        "rf_rows": worked_receptive_field(architecture["receptive_field"])
        if architecture else [],
        "param_rows": worked_parameters(final.model, architecture) if architecture else [],
        "recalibration": data.recalibration, "recalibration_current":
        data.recalibration_current, "augmentation_figure": data.augmentation_figure,
    }
    for name, found in (("intro", introduced_by(concept, models)),
                        ("removal", removed_by(concept, models))):
        if found:
            current, previous = found
            trained = current.trained and previous.trained
            context[name] = {"model": current, "previous": previous, "trained": trained,
                             **(comparison_context(current, previous) if trained else {}),
                             "kernel": classifier_kernel(current),
                             "previous_kernel": classifier_kernel(previous),
                             "lr_figure": figures.get(current.model.id, {}).get("lr"),
                             "param_rows": worked_parameters(current.model, current.architecture)
                             if current.architecture else [],
                             "blocks": separable_blocks(current.model, current.architecture)
                             if current.architecture else [],
                             "steps_per_epoch": training_steps(current.model),
                             "field": field_before_pooling(current.architecture),
                             "previous_field": field_before_pooling(previous.architecture),
                             "per_seed": paired_seeds(current, previous) if trained else []}
            recipe = current.model.recipe
            if recipe.ema_decay:
                context[name]["averaging"] = averaging_schedule(
                    recipe.ema_decay, training_steps(current.model), recipe.epochs)
    if data.recalibration:
        context["recalibration_summary"] = recalibration_summary(data.recalibration)
    return context


def tex_count(value: int) -> str:
    """A whole number for LaTeX: 1080 -> "1{,}080" (the braces keep the comma tight)."""
    return f"{value:,}".replace(",", "{,}")


def tex_number(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def tex_power(value: float) -> str:
    """A small number in scientific notation for LaTeX: 2.7e-05 -> "2.7 \\times 10^{-5}"."""
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa} \\times 10^{{{int(exponent)}}}"


CONCEPT_GLOBALS = {"concepts_used": concepts_used, "concepts_of_change": concepts_of_change,
                   "concept_page": concept_page,
                   "CONCEPTS": CONCEPTS, "CONCEPTS_INDEX": CONCEPTS_INDEX,
                   "tex_count": tex_count, "tex_number": tex_number,
                   "tex_power": tex_power}


__all__ = ["CONCEPTS", "CONCEPTS_INDEX", "CONCEPT_GLOBALS", "Concept", "ConceptData",
           "averaging_schedule", "classifier_kernel", "concept_context", "concept_page",
           "concepts_of_change", "concepts_used", "field_before_pooling", "introduced_by",
           "load_concept_data", "paired_seeds", "recalibration_summary", "removed_by",
           "separable_blocks", "training_steps", "worked_parameters",
           "worked_receptive_field"]
