"""The course's models, step by step, and the registry the command line and report use.

Each step lives in its own module (``step1_structure``, ``step2_efficiency``,
``step3_augmentation``) holding its models next to their Target and Analysis. A model is
a :class:`CourseModel`: the layers (see :mod:`mnist_course.models.blocks`), the recipe it
trains with, and the words a teacher writes about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..recipe import Recipe
from .blocks import Layer, describe_layer, spec_to_json


@dataclass(frozen=True)
class CourseModel:
    """One model of the course: what it is, how it trains, what we expect and learn."""

    id: str  # stable identifier, also the results folder name
    step: int  # 1, 2 or 3
    title: str  # a few words for headings and tables
    target: tuple[str, ...]  # bullets: what this model sets out to change, and why
    architecture: tuple[Layer, ...]
    recipe: Recipe
    # Jinja template, rendered against the measured metrics (see mnist_course.summary):
    # every figure in it is an expression, never a typed number.
    analysis: str
    previous: str | None = None  # the model this one changes one idea of
    # Seeds the course trains: three show run-to-run noise; the final models use five.
    seeds: tuple[int, ...] = (0, 1, 2)

    def build(self):
        """The ``nn.Module`` (imports torch only when called)."""
        from .network import CourseNet

        return CourseNet(self.architecture)

    def architecture_json(self) -> list[dict]:
        return spec_to_json(self.architecture)

    def layer_lines(self) -> list[str]:
        return [describe_layer(layer) for layer in self.architecture]


def _collect() -> tuple[CourseModel, ...]:
    from . import step1_structure, step2_efficiency, step3_augmentation

    return step1_structure.MODELS + step2_efficiency.MODELS + step3_augmentation.MODELS


COURSE: tuple[CourseModel, ...] = _collect()
STEPS = {
    1: "Get the structure right",
    2: "Make it efficient",
    3: "Augmentation and the learning rate",
}
FINAL_MODEL_ID = "s3_final"
LEAN_MODEL_ID = "s3_lean"


def model_ids() -> list[str]:
    return [m.id for m in COURSE]


def get_model(model_id: str) -> CourseModel:
    """The course model with this id; an unknown id is a :class:`UsageError` listing them."""
    for model in COURSE:
        if model.id == model_id:
            return model
    raise UsageError(f"unknown model id {model_id!r}; valid ids: {', '.join(model_ids())}")


__all__ = ["COURSE", "STEPS", "CourseModel", "Recipe", "get_model", "model_ids",
           "FINAL_MODEL_ID", "LEAN_MODEL_ID"]
