"""A course: models in steps, each with its Target, recipe and Analysis (torch-free).

The built-in course (:mod:`mnist_course.models`) is one :class:`Course` like any other; a
student writes their own in a file that defines ``COURSE = mc.Course(...)`` and hands it
to every command with ``--course my_course.py``::

    import mnist_course as mc
    from torch import nn

    class Small(nn.Module):
        ...

    COURSE = mc.Course(title="My assignment", models=[
        mc.CourseModel("small", step=1, title="A small start", target="Get a skeleton.",
                       recipe=mc.Recipe(epochs=15), analysis="{{ seeds.mean_last5|pct }}",
                       build=Small),
    ])

A model is either the course's layer spec (``architecture=``, see
:mod:`mnist_course.models.blocks`) or any zero-argument callable returning an
``nn.Module`` (``build=``, the class itself). Its cache key, the thing that decides when
a stored run is stale, is the spec, or for ``build=`` the source code of the callable and
of the functions, classes and constants of the student's own files that it names (see
:func:`~mnist_course.course.student_code.build_source`), plus the recipe and the seed.
Titles, Targets and Analysis templates are not in it: editing them retrains nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mnist_course.course.recipe import Recipe
from mnist_course.course.student_code import build_source, callable_name, where_in_student_code
from mnist_course.errors import UsageError

# The three steps the assignment is taught in; a course may name its own.
DEFAULT_STEPS: dict[int, str] = {
    1: "Get the structure right",
    2: "Make it efficient",
    3: "Augmentation and the learning rate",
}
# A model id names its results folder and its page: letters, digits, "_" and "-" only.
MODEL_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# What an Analysis template may name (see the README's "Your own assignment").
ANALYSIS_VARIABLES = frozenset({"m", "prev", "seeds", "prev_seeds", "budget", "compare",
                                "compare_current", "compare_previous", "final_seeds"})


@dataclass(frozen=True)
class CourseModel:
    """One model of a course: what it is, how it trains, what we expect and learn."""

    id: str  # stable identifier, also the results folder name
    step: int  # the step it belongs to (a key of the course's ``steps``)
    title: str  # a few words for headings and tables
    target: tuple[str, ...] | str  # bullets: what this model sets out to change, and why
    recipe: Recipe
    # Jinja template, rendered against the measured metrics (see mnist_course.summary):
    # every figure in it is an expression, never a typed number.
    analysis: str
    previous: str | None = None  # the model this one changes one idea of
    seeds: tuple[int, ...] = (0,)  # three or more show run-to-run noise
    architecture: tuple | None = None  # a layer spec (mnist_course.models.blocks) ...
    build: Callable[[], Any] | None = None  # ... or a zero-argument nn.Module factory

    def __post_init__(self) -> None:
        if isinstance(self.target, str):
            object.__setattr__(self, "target", (self.target,))
        if isinstance(self.seeds, int):
            object.__setattr__(self, "seeds", (self.seeds,))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        if self.architecture is not None:
            object.__setattr__(self, "architecture", tuple(self.architecture))
        problem = self._problem()
        if problem:
            name = self.id if isinstance(self.id, str) and MODEL_ID.match(self.id) else \
                repr(self.id)
            raise UsageError(f"course model {name}: {problem}")

    def _problem(self) -> str:
        if not isinstance(self.id, str) or not MODEL_ID.match(self.id):
            return ("the id must start with a letter and hold only letters, digits, '_' "
                    "and '-' (it names a folder and a page)")
        if not isinstance(self.step, int) or isinstance(self.step, bool):
            return f"step must be a whole number, not {self.step!r}"
        if not isinstance(self.title, str) or not self.title.strip():
            return "title must be a non-empty string"
        if not all(isinstance(line, str) for line in self.target):
            return "target must be a string or a tuple of strings"
        if not isinstance(self.recipe, Recipe):
            return "recipe must be an mc.Recipe(...)"
        if not isinstance(self.analysis, str):
            return "analysis must be a string (a Jinja template)"
        if self.previous is not None and not isinstance(self.previous, str):
            return "previous must be another model's id"
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds):
            return "seeds must be whole numbers >= 0, at least one"
        if (self.architecture is None) == (self.build is None):
            return ("give exactly one of architecture= (a layer spec) or build= (a class or "
                    "function returning an nn.Module)")
        if self.build is not None and not callable(self.build):
            return "build must be a class or function that returns an nn.Module"
        return ""

    # -- the network ---------------------------------------------------------------------

    def network(self):
        """The ``nn.Module`` (imports torch only when called)."""
        if self.build is not None:
            return build_network(self)
        from mnist_course.models.network import CourseNet

        return CourseNet(self.architecture)

    @property
    def from_spec(self) -> bool:
        """True for a model written as the course's layer spec, False for ``build=``."""
        return self.architecture is not None

    def architecture_json(self) -> list[dict]:
        """What the model is, for its cache key and its stored runs: the layer spec, or for
        ``build=`` the callable's name and the source code that defines it."""
        if self.architecture is not None:
            from mnist_course.models.blocks import spec_to_json

            return spec_to_json(self.architecture)
        return [{"type": "Module", "name": callable_name(self.build),
                 "source": build_source(self.build)}]


def build_network(model: CourseModel):
    """Call a ``build=`` factory; anything but an ``nn.Module`` is a one-line error."""
    from torch import nn

    try:
        network = model.build()
    except Exception as exc:  # noqa: BLE001 - the student's code: report it in one line
        raise UsageError(f"course model {model.id}: build() failed: "
                         f"{where_in_student_code(exc)}") from exc
    if not isinstance(network, nn.Module):
        raise UsageError(f"course model {model.id}: build() returned "
                         f"{type(network).__name__}, not an nn.Module")
    return network


@dataclass(frozen=True)
class Course:
    """Models in steps. ``final`` is the model the home page reports on (default: the last
    model); ``concepts`` adds the Concepts pages, which are worked on layer-spec models."""

    title: str
    models: tuple[CourseModel, ...]
    steps: Mapping[int, str] | None = None  # step number -> name; default DEFAULT_STEPS
    final: str | None = None
    lean: str | None = None  # a second model the home page may name (optional)
    step_notes: Mapping[int, str] = field(default_factory=dict)  # step -> a paragraph
    description: str = ""  # a paragraph for the home page
    concepts: bool = False
    # How a reader rebuilds this course (shown on the pages); set by whoever loads it.
    build_command: str = "mnist-course build"
    # Design sweeps (mnist_course.course.sweep.Sweep) whose candidates the site shows on a page of
    # their own; their runs are under <results>/sweep/. A student's course has none.
    sweeps: tuple = ()
    # A step that goes beyond what the assignment asks (one of ``steps``): it is headed by
    # its name alone, not "Step N", and placed after the assignment's steps.
    beyond: int | None = None
    # The ablation of the final model (a mnist_course.course.sweep.Sweep): the final model with
    # each change of its step left out in turn, shown on that step's overview.
    ablation: object | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        steps = dict(DEFAULT_STEPS if self.steps is None else self.steps)
        object.__setattr__(self, "steps", dict(sorted(steps.items())))
        object.__setattr__(self, "step_notes", dict(self.step_notes))
        object.__setattr__(self, "sweeps", tuple(self.sweeps))
        if self.final is None and self.models:
            object.__setattr__(self, "final", self.models[-1].id)
        problem = self._problem()
        if problem:
            raise UsageError(problem)

    def _problem(self) -> str:
        if not isinstance(self.title, str) or not self.title.strip():
            return "the course needs a title: mc.Course(title=..., models=[...])"
        if not self.models:
            return f"course {self.title!r} has no models"
        for model in self.models:
            if not isinstance(model, CourseModel):
                return f"course {self.title!r}: {model!r} is not an mc.CourseModel"
        seen: set[str] = set()
        for model in self.models:
            if model.id in seen:
                return f"course model {model.id}: the id is used twice"
            seen.add(model.id)
            if model.step not in self.steps:
                return (f"course model {model.id}: step {model.step} is not one of the "
                        f"course's steps ({', '.join(map(str, self.steps))})")
            if model.previous is not None and model.previous not in seen:
                return (f"course model {model.id}: previous={model.previous!r} must name a "
                        "model listed before it")
        if self.beyond is not None and self.beyond not in self.steps:
            return (f"course {self.title!r}: beyond={self.beyond!r} is not one of the "
                    f"course's steps ({', '.join(map(str, self.steps))})")
        for name in ("final", "lean"):
            value = getattr(self, name)
            if value is not None and value not in seen:
                return f"course {self.title!r}: {name}={value!r} is not a model id"
        return ""

    # A course reads like the tuple of its models.
    def __iter__(self) -> Iterator[CourseModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def __getitem__(self, index):
        return self.models[index]

    def ids(self) -> list[str]:
        return [m.id for m in self.models]

    def get(self, model_id: str) -> CourseModel:
        """The model with this id; an unknown id is a :class:`UsageError` listing them."""
        for model in self.models:
            if model.id == model_id:
                return model
        raise UsageError(f"unknown model id {model_id!r}; valid ids: {', '.join(self.ids())}")

    def step_models(self, step: int) -> list[CourseModel]:
        return [m for m in self.models if m.step == step]

    def heading(self, step: int) -> str:
        """How pages name a step: "Step 2: Make it efficient", or the name alone for the
        step that goes beyond the assignment."""
        name = self.steps[step]
        return name if step == self.beyond else f"Step {step}: {name}"


# ----------------------------------------------------------------------------------------


__all__ = ["ANALYSIS_VARIABLES", "Course", "CourseModel", "DEFAULT_STEPS", "MODEL_ID"]
