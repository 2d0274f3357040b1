"""The Concepts pages: one idea per page, its formulas worked on the course's own models.

Which model uses which idea is read from the model's layers and recipe (never listed by
hand), so a model page links to exactly the ideas it is built from and each idea's page
links back to those models. The worked examples recompute the stored numbers with the
page's own formulas (:func:`worked_receptive_field`, :func:`worked_parameters`), so a
formula that disagreed with ``architecture.json`` would show on the page and in the tests.
Torch-free, like the rest of the report layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..concept_store import (
    AUGMENTATION_FIGURE,
    CONCEPTS_FILE,
    load_concepts,
    load_figure_manifest,
    recalibration_key,
)
from ..course import Course, CourseModel
from ..models.blocks import Conv, GlobalAvgPool
from ..sourced import sourced_json
from .course import ModelResults, comparison_context


def _convs(model: CourseModel) -> list[Conv]:
    return [layer for layer in model.architecture or () if isinstance(layer, Conv)]


def _has_transition(model: CourseModel) -> bool:
    """A hidden 1x1 convolution (the classifier's 1x1 makes logits, it mixes no features)."""
    return any(c.kernel == 1 and c.relu for c in _convs(model))


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

    def marks(self, model: CourseModel) -> bool:
        return (self.marker or self.uses)(model)


CONCEPTS: tuple[Concept, ...] = (
    Concept("receptive-field", "Receptive field",
            "how many input pixels one output sees: output size, jump and field per layer",
            lambda m: bool(_convs(m))),
    Concept("parameters", "Parameters of a convolution",
            "where the parameter budget goes, and why batch norm makes the bias redundant",
            lambda m: bool(_convs(m))),
    Concept("transition", "The 1x1 transition",
            "mixing and squeezing channels without looking at neighbours",
            _has_transition),
    Concept("gap", "GAP against the big classifier kernel",
            "turning the last feature map into ten scores, with or without weights",
            _classifies_with_a_kernel,
            lambda m: any(isinstance(layer, GlobalAvgPool) for layer in m.architecture or ())),
    Concept("batch-norm", "How batch normalisation works",
            "standardising every channel over the batch, with a learned scale and shift",
            lambda m: any(c.batch_norm for c in _convs(m))),
    Concept("dropout", "How dropout works",
            "zeroing random activations during training",
            lambda m: any(c.dropout > 0 for c in _convs(m))),
    Concept("augmentation", "Augmentation",
            "showing the network randomly rotated training digits",
            lambda m: m.recipe.augmentation.enabled),
    Concept("one-cycle", "The one-cycle schedule",
            "a learning rate that climbs, then anneals and settles",
            lambda m: m.recipe.schedule == "onecycle"),
    Concept("weight-decay", "Weight decay with batch norm",
            "why shrinking scale-free weights makes every step larger",
            lambda m: m.recipe.weight_decay > 0),
    Concept("bn-recalibration", "Batch-norm recalibration",
            "testing with statistics recomputed for the weights being tested",
            lambda m: m.recipe.bn_recalibration > 0),
)
CONCEPTS_INDEX = "concepts/index.md"


def concept_page(concept: Concept) -> str:
    return f"concepts/{concept.slug}.md"


def concepts_used(model: CourseModel) -> list[Concept]:
    """The ideas ``model`` is built from, in the order the Concepts part teaches them."""
    return [concept for concept in CONCEPTS if concept.uses(model)]


def _first_change(concept: Concept, course: list[ModelResults], added: bool
                  ) -> tuple[ModelResults, ModelResults] | None:
    by_id = {r.model.id: r for r in course}
    for results in course:
        previous = by_id.get(results.model.previous or "")
        if previous and (concept.marks(results.model), concept.marks(previous.model)) == (
                added, not added):
            return results, previous
    return None


def introduced_by(concept: Concept, course: list[ModelResults]
                  ) -> tuple[ModelResults, ModelResults] | None:
    """(the first model that uses ``concept`` while the model it changes did not, that
    model): where the course shows what the idea does."""
    return _first_change(concept, course, added=True)


def removed_by(concept: Concept, course: list[ModelResults]
               ) -> tuple[ModelResults, ModelResults] | None:
    """(the first model that drops ``concept`` its previous model used, that model)."""
    return _first_change(concept, course, added=False)


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
                           "batch_norm": spec.batch_norm,
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


def concept_context(concept: Concept, course: list[ModelResults],
                    figures: dict[str, dict[str, str]], data: ConceptData,
                    final_id: str | None) -> dict[str, Any]:
    """Everything one concept page shows, computed from the stored results; the worked
    examples use the model ``final_id``."""
    by_id = {r.model.id: r for r in course}
    final = by_id.get(final_id)
    architecture = final.architecture if final else None
    context: dict[str, Any] = {
        "concept": concept, "users": [r for r in course if concept.uses(r.model)],
        "intro": None, "removal": None,
        "rf_rows": worked_receptive_field(architecture["receptive_field"])
        if architecture else [],
        "param_rows": worked_parameters(final.model, architecture) if architecture else [],
        "recalibration": data.recalibration, "recalibration_current":
        data.recalibration_current, "augmentation_figure": data.augmentation_figure,
    }
    for name, found in (("intro", introduced_by(concept, course)),
                        ("removal", removed_by(concept, course))):
        if found:
            current, previous = found
            trained = current.trained and previous.trained
            context[name] = {"model": current, "previous": previous, "trained": trained,
                             **(comparison_context(current, previous) if trained else {}),
                             "kernel": classifier_kernel(current),
                             "previous_kernel": classifier_kernel(previous),
                             "lr_figure": figures.get(current.model.id, {}).get("lr")}
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


CONCEPT_GLOBALS = {"concepts_used": concepts_used, "concept_page": concept_page,
                   "CONCEPTS": CONCEPTS, "CONCEPTS_INDEX": CONCEPTS_INDEX,
                   "tex_count": tex_count, "tex_number": tex_number,
                   "tex_power": tex_power}


__all__ = ["CONCEPTS", "CONCEPTS_INDEX", "CONCEPT_GLOBALS", "Concept", "ConceptData",
           "classifier_kernel", "concept_context", "concept_page",
           "concepts_used", "introduced_by", "load_concept_data", "recalibration_summary",
           "removed_by", "worked_parameters", "worked_receptive_field"]
