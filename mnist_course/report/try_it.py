"""The "Try it" page: the reader draws a digit and chosen models classify it in the browser.

This module decides which models the page offers (from the stored runs, never typed), what
each one's receptive field is at every layer (from the same ``architecture.json`` rows the
receptive-field tables print), and what the page says about a model the browser cannot run.
The exported programs themselves are written by :mod:`mnist_course.pipeline.try_it_exports` (torch,
only when an export is missing or stale); this module reads JSON only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mnist_course.report.model_results import ModelResults

TRY_IT_DIR = "try-it"  # the page, its script and style, and the exported models
TRY_IT_PAGE = f"{TRY_IT_DIR}/index.md"
MODELS_DIR = "models"  # below TRY_IT_DIR: one JSON program per model
ASSETS = ("try-it.js", "try-it.css")  # copied from report/assets/ beside the page

# MNIST's own preparation of a digit: scaled into a DIGIT_BOX square, centred by its centre of
# mass in an IMAGE_SIZE square. The page reads both from the page (one source: here).
IMAGE_SIZE = 28
DIGIT_BOX = 20
CANVAS_SIZE = 280  # pixels of the drawing canvas (the screen scales it)

FINAL_ROLE = "the course's final model"
PASSING_ROLE = "the smallest model that meets the bar on every seed"
SMALLEST_ROLE = "the smallest model tried"


@dataclass(frozen=True)
class TryItModel:
    """One model the page names: in the chooser when ``reason`` is None, else listed with
    the reason the browser cannot run it."""

    results: ModelResults
    roles: tuple[str, ...]
    reason: str | None = None
    fields: list[dict] | None = None  # per spatial step: rf, jump, start (None: unknown)

    @property
    def file(self) -> str:
        """The exported program, relative to the page."""
        return f"{MODELS_DIR}/{self.results.model.id}.json"

    def fields_json(self) -> str:
        return json.dumps(self.fields)


@dataclass
class TryItData:
    models: list[TryItModel] = field(default_factory=list)
    every_model: bool = False  # a student's site offers every model, not only the roles

    @property
    def runnable(self) -> list[TryItModel]:
        return [m for m in self.models if m.reason is None]

    @property
    def not_runnable(self) -> list[TryItModel]:
        return [m for m in self.models if m.reason is not None]


def _seed_zero(results: ModelResults) -> bool:
    record = results.main_record
    return record is not None and record.get("seed") == 0


def meets_bar_on_every_seed(results: ModelResults) -> bool:
    """Every seed the model is meant to run is stored, current and passes."""
    summary = results.seeds_summary
    return (summary is not None and summary.all_pass and not results.missing_seeds
            and not results.stale_seeds)


def choose_models(models: list[ModelResults], final_id: str | None,
                  every_model: bool = False) -> list[tuple[ModelResults, tuple[str, ...]]]:
    """The models the page offers, each with the roles it fills: the final model, the
    smallest that meets the bar on every seed, the smallest tried (one entry for a model
    filling several). With ``every_model``, every other trained model follows, in course
    order. Only models with a stored seed-0 run are candidates (the page runs seed 0)."""
    trained = [r for r in models if r.trained and _seed_zero(r)]
    if not trained:
        return []
    params = {r.model.id: r.summary.params for r in trained}
    roles: dict[str, list[str]] = {}
    final = next((r for r in trained if r.model.id == final_id), None)
    if final is not None:
        roles.setdefault(final.model.id, []).append(FINAL_ROLE)
    passing = [r for r in trained if meets_bar_on_every_seed(r)]
    if passing:  # min keeps the first of equals: the earlier model in the course
        roles.setdefault(min(passing, key=lambda r: params[r.model.id]).model.id,
                         []).append(PASSING_ROLE)
    roles.setdefault(min(trained, key=lambda r: params[r.model.id]).model.id,
                     []).append(SMALLEST_ROLE)
    order = {FINAL_ROLE: 0, PASSING_ROLE: 1, SMALLEST_ROLE: 2}
    chosen = sorted((r for r in trained if r.model.id in roles),
                    key=lambda r: min(order[role] for role in roles[r.model.id]))
    if every_model:
        chosen += [r for r in trained if r.model.id not in roles]
    return [(r, tuple(roles.get(r.model.id, ()))) for r in chosen]


def layer_fields(rows: list[dict]) -> list[dict]:
    """What one output pixel of each row of a receptive-field table sees, as the page
    outlines it: ``rf`` and ``jump`` as the table gives them, and ``start``, the centre of
    the first pixel's window in input pixels (0 = the first input pixel), carried row by
    row from 0 as the table's trace carries it: a window of ``rf_out - rf_in`` more pixels
    centred ``padding`` pixels of the input map before the map's first pixel. Pixel ``i``
    of the row's output sees input pixels ``start + i * jump +- (rf - 1) / 2``."""
    start, fields = 0.0, []
    for row in rows:
        start += (row["rf_out"] - row["rf_in"]) / 2 - row["padding"] * row["jump_in"]
        fields.append({"name": row["name"], "rf": row["rf_out"], "jump": row["jump_out"],
                       "start": start})
    return fields


SPATIAL_STEPS = ("conv", "max_pool", "global_avg_pool")  # the steps with a table row


def step_fields(architecture: dict | None, steps: list[dict]) -> list[dict] | None:
    """The table's field for each spatial step of an exported program, matched in order;
    None when the table and the program disagree (a stale table, another path)."""
    rows = (architecture or {}).get("receptive_field")
    spatial = [s for s in steps if s["op"] in SPATIAL_STEPS]
    if not rows or len(rows) != len(spatial):
        return None
    for row, step in zip(rows, spatial, strict=True):
        kernel = step["kernel"][0] if "kernel" in step else row["size_in"]
        size = step["shape"][1] if len(step["shape"]) == 3 else 1
        if row["kernel"] != kernel or row["size_out"] != size:
            return None
    return layer_fields(rows)


def page_constants() -> dict[str, int]:
    return {"image_size": IMAGE_SIZE, "digit_box": DIGIT_BOX, "canvas_size": CANVAS_SIZE}


__all__ = ["ASSETS", "page_constants", "FINAL_ROLE", "MODELS_DIR", "PASSING_ROLE", "SMALLEST_ROLE",
           "TRY_IT_DIR", "TRY_IT_PAGE", "TryItData", "TryItModel", "choose_models",
           "layer_fields", "meets_bar_on_every_seed", "step_fields"]
