"""The built-in course: its models, step by step, as one
:class:`~mnist_course.course.definition.Course`.

Each step lives in its own module (``step1_structure``, ``step2_efficiency``,
``step3_augmentation``) holding its models next to their Target and Analysis. A model is
a :class:`~mnist_course.course.definition.CourseModel`: the layers (see
:mod:`mnist_course.models.blocks`), the recipe it trains with, and the words a teacher
writes about it. Nothing outside this package knows the course's model ids: the engine,
the results store and the report are handed the course.

May import :mod:`mnist_course.course` and the assignment's terms; never training, the
results store, the pipeline or the report.
"""

from __future__ import annotations

import functools
import importlib
import inspect

from mnist_course.course.definition import DEFAULT_STEPS, Course, CourseModel
from mnist_course.course.recipe import Recipe
from mnist_course.models.seeds import THREE_SEEDS

STEP_MODULES = {1: "step1_structure", 2: "step2_efficiency", 3: "step3_augmentation",
                4: "beyond"}
BEYOND_TITLE = "Beyond the assignment"


def _step_note(step: int) -> str:
    """The step module's docstring without its headline: the step's introduction."""
    module = importlib.import_module(f".{STEP_MODULES[step]}", __name__)
    return inspect.cleandoc(module.__doc__ or "").partition("\n")[2].strip()


def _collect() -> Course:
    from mnist_course.models import (
        ablation,
        beyond,
        step1_structure,
        step2_efficiency,
        step3_augmentation,
    )

    return Course(
        title="MNIST in three steps",
        models=(step1_structure.MODELS + step2_efficiency.MODELS + step3_augmentation.MODELS
                + beyond.MODELS),
        steps={**DEFAULT_STEPS, beyond.BEYOND: BEYOND_TITLE},
        beyond=beyond.BEYOND,
        ablation=ablation.FINAL_ABLATION,
        final="s3_final",
        lean="s3_lean",
        step_notes={step: _step_note(step) for step in STEP_MODULES},
        concepts=True,
        build_command="python scripts/build_report.py",
        sweeps=tuple(importlib.import_module(".sweeps", __name__).SWEEPS.values()),
    )


@functools.cache
def builtin_course() -> Course:
    """The built-in course, built on first use: importing the building blocks
    (``mnist_course.models.blocks``) must not load the course's step modules."""
    return _collect()


def __getattr__(name: str):
    # COURSE, STEPS, FINAL_MODEL_ID and LEAN_MODEL_ID, for the course's own scripts and
    # tests; the report reads them from the course it is handed.
    fields = {"COURSE": None, "STEPS": "steps", "FINAL_MODEL_ID": "final",
              "LEAN_MODEL_ID": "lean"}
    if name not in fields:  # checked first: importing a submodule asks for its name here
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    course = builtin_course()
    return course if fields[name] is None else getattr(course, fields[name])


def get_model(model_id: str) -> CourseModel:
    """The course model with this id; an unknown id is a :class:`UsageError` listing them."""
    return builtin_course().get(model_id)


__all__ = ["COURSE", "STEPS", "THREE_SEEDS", "CourseModel", "Recipe", "builtin_course",
           "get_model", "FINAL_MODEL_ID", "LEAN_MODEL_ID"]
