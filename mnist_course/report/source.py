"""The course's own words and code, read from the step modules' source files.

The renderer must not import torch, so it never calls ``inspect`` on live objects: it
parses the module's file with :mod:`ast` and cuts out the ``NAME = CourseModel(...)``
assignment whose ``id`` is the model's.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from functools import cache
from pathlib import Path

STEP_MODULES = {1: "mnist_course.models.step1_structure",
                2: "mnist_course.models.step2_efficiency",
                3: "mnist_course.models.step3_augmentation"}


@cache
def _module_text(module_name: str) -> str:
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        raise LookupError(f"cannot find the source of {module_name}")
    return Path(spec.origin).read_text(encoding="utf-8")


def _model_id_of(call: ast.Call) -> str | None:
    for keyword in call.keywords:
        if keyword.arg == "id" and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def model_source(model_id: str, step: int) -> str:
    """The ``NAME = CourseModel(...)`` block defining ``model_id``, as written."""
    text = _module_text(STEP_MODULES[step])
    for node in ast.parse(text).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "CourseModel"
                and _model_id_of(node.value) == model_id):
            return ast.get_source_segment(text, node, padded=True) or ""
    raise LookupError(f"{model_id} is not defined in {STEP_MODULES[step]}")


def module_file(step: int) -> str:
    """The step module's path inside the repository, for the page to name."""
    return STEP_MODULES[step].replace(".", "/") + ".py"


def step_description(step: int) -> tuple[str, str]:
    """(headline, body) of the step module's docstring."""
    doc = inspect.cleandoc(importlib.import_module(STEP_MODULES[step]).__doc__ or "")
    headline, _, body = doc.partition("\n")
    return headline.strip(), body.strip()
