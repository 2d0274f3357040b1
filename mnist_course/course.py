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
:func:`build_source`), plus the recipe and the seed. Titles, Targets and Analysis
templates are not in it: editing them retrains nothing.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import linecache
import re
import sys
import textwrap
import traceback
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .recipe import Recipe

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
        from .models.network import CourseNet

        return CourseNet(self.architecture)

    @property
    def from_spec(self) -> bool:
        """True for a model written as the course's layer spec, False for ``build=``."""
        return self.architecture is not None

    def architecture_json(self) -> list[dict]:
        """What the model is, for its cache key and its stored runs: the layer spec, or for
        ``build=`` the callable's name and the source code that defines it."""
        if self.architecture is not None:
            from .models.blocks import spec_to_json

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
    # Design sweeps (mnist_course.sweep.Sweep) whose candidates the site shows on a page of
    # their own; their runs are under <results>/sweep/. A student's course has none.
    sweeps: tuple = ()
    # A step that goes beyond what the assignment asks (one of ``steps``): it is headed by
    # its name alone, not "Step N", and placed after the assignment's steps.
    beyond: int | None = None
    # The ablation of the final model (a mnist_course.sweep.Sweep): the final model with
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
# What a build= model's cache key is made of


def callable_name(obj: Any) -> str:
    if isinstance(obj, functools.partial):
        return f"partial({callable_name(obj.func)})"
    return getattr(obj, "__qualname__", None) or type(obj).__name__


def _is_students_own(module: types.ModuleType | None) -> bool:
    """Code the student wrote: a module with a file outside Python, installed packages
    and mnist_course itself (torch's and the library's code are versioned separately),
    or ``__main__`` (a notebook's or an interactive session's cells)."""
    if module is None:
        return False
    if module.__name__ == "__main__":
        return True
    name = module.__name__.split(".")[0]
    if name in sys.stdlib_module_names or name in ("torch", "torchvision", "mnist_course"):
        return False
    origin = getattr(module, "__file__", None)
    return bool(origin) and "site-packages" not in Path(origin).parts


def _defining_class(lines: list[str], name: str, line: int | None) -> str | None:
    """The ``class name`` statement (decorators included) in ``lines``: the one around
    ``line`` when given, else the last one."""
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    found = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
             and node.name == name and (line is None or node.lineno <= line <= node.end_lineno)]
    if not found:
        return None
    node = max(found, key=lambda n: n.lineno) if line is None else \
        min(found, key=lambda n: n.end_lineno - n.lineno)  # the innermost around ``line``
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "".join(lines[start - 1:node.end_lineno])


def cell_class_source(cls: type) -> str | None:
    """The source of a class defined in a notebook cell or typed into IPython, which
    :func:`inspect.getsource` cannot find (its module, ``__main__``, has no file). IPython
    keeps every cell's text in :mod:`linecache` under the cell's file name: the cell is
    the one its methods' code was compiled from, or for a class with no methods of its
    own the latest cell that defines a class of its name."""
    for value in vars(cls).values():
        function = getattr(value, "__func__", getattr(value, "fget", value))
        code = getattr(inspect.unwrap(function), "__code__", None) \
            if callable(function) else None
        if code is None:
            continue
        lines = linecache.getlines(code.co_filename)
        source = _defining_class(lines, cls.__name__, code.co_firstlineno) if lines else None
        if source:
            return source
    for filename in reversed(list(linecache.cache)):
        if filename.startswith("<ipython-input-") or "ipykernel_" in filename:
            source = _defining_class(linecache.getlines(filename), cls.__name__, None)
            if source:
                return source
    return None


def readable_source(obj: Any) -> str | None:
    """The source text of a function or class (from its file, or its notebook cell), or
    None when it truly cannot be read."""
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        source = cell_class_source(obj) if inspect.isclass(obj) else None
        return textwrap.dedent(source) if source else None


def _source_of(obj: Any) -> str:
    source = readable_source(obj)
    return repr(obj) if source is None else source


def build_source(factory: Any) -> str:
    """The text a ``build=`` model's cache key is made of: the source of ``factory`` (a
    class, a function or a ``functools.partial`` with its arguments) and, transitively,
    of every function and class of the student's own modules that it names, plus the
    value of every plain constant (number, string, tuple) it names. Sorted by name, so
    the text does not depend on the order things are found in."""
    parts: dict[str, str] = {}
    queue: list[Any] = []
    if isinstance(factory, functools.partial):
        parts["partial arguments"] = repr((factory.args, sorted(factory.keywords.items())))
        factory = factory.func
    queue.append(factory)
    if readable_source(factory) is None:
        raise UsageError(f"cannot read the source of {callable_name(factory)} (made by exec "
                         "or type()?), and its runs are keyed on its code: define it in a .py "
                         "file or a notebook cell")
    seen: set[int] = set()
    while queue:
        obj = queue.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        module = inspect.getmodule(obj)
        source = _source_of(obj)
        parts[f"{getattr(module, '__name__', '?')}.{callable_name(obj)}"] = source
        namespace = vars(module) if module is not None else {}
        try:
            names = {node.id for node in ast.walk(ast.parse(source))
                     if isinstance(node, ast.Name)}
        except SyntaxError:
            names = set()
        for name in sorted(names):
            value = namespace.get(name)
            if inspect.isclass(value) or inspect.isfunction(value):
                if _is_students_own(inspect.getmodule(value)):
                    queue.append(value)
            elif isinstance(value, int | float | str | bytes | tuple | frozenset):
                parts[f"{getattr(module, '__name__', '?')}.{name}"] = repr(value)
    # The name a course file is imported under depends on where it lies: key on the names
    # inside the modules, so that moving the folder retrains nothing.
    named = {key.split(".", 1)[-1]: text for key, text in parts.items()}
    return "\n\n".join(f"# {name}\n{named[name]}" for name in sorted(named))


# ----------------------------------------------------------------------------------------
# Loading a student's file


def where_in_student_code(exc: BaseException, path: Path | None = None) -> str:
    """``file:line: ExceptionType: message`` for the innermost frame of the student's
    code (``path``, or any file that is not Python's, torch's or mnist_course's)."""
    message = f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else \
        type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}"
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if (path is not None and Path(f.filename) == path)
           or (path is None and _file_is_students(f.filename))]
    if own:
        return f"{own[-1].filename}:{own[-1].lineno}: {message}"
    return message


def _file_is_students(filename: str) -> bool:
    parts = Path(filename).parts
    return ("site-packages" not in parts and "mnist_course" not in parts
            and not filename.startswith("<") and not filename.startswith(sys.prefix))


def import_file(path: str | Path) -> types.ModuleType:
    """Import a student's ``.py`` file (or a package folder) as a module of its own; any
    error in it is one :class:`UsageError` line naming the file and line."""
    path = Path(path)
    if path.is_dir():
        path = path / "__init__.py"
    if not path.exists():
        raise UsageError(f"no such file: {path} (give the path of a .py file)")
    if path.suffix != ".py":
        raise UsageError(f"{path} is not a Python file (.py)")
    path = path.resolve()
    # One name per file, the same in every process (the builder's children import it too).
    name = "mnist_course_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)]
        if path.name == "__init__.py" else None)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # The file's own folder is importable, as when it is run: a course may import helpers.
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the student's code: one line, not a traceback
        sys.modules.pop(name, None)
        raise UsageError(f"cannot import {path.name}: {where_in_student_code(exc, path)}"
                         ) from exc
    finally:
        if sys.path and sys.path[0] == str(path.parent):
            sys.path.pop(0)
    return module


def resolve_object(target: str) -> tuple[Any, str]:
    """``FILE.py:NAME`` -> (the object NAME in that file, its label)."""
    file, sep, name = target.rpartition(":")
    if not sep or not file or not name:
        raise UsageError(f"expected FILE.py:NAME (a file and a class or function in it), "
                         f"got {target!r}")
    module = import_file(file)
    course = getattr(module, "COURSE", None)
    if not hasattr(module, name) and isinstance(course, Course) and name in course.ids():
        model = course.get(name)
        built = callable_name(model.build) if model.build is not None else None
        raise UsageError(f"{name!r} is a model id; give the class or function it is built "
                         f"from" + (f": {file}:{built}" if built else " (a name in the file)"))
    if not hasattr(module, name):
        found = sorted(n for n, v in vars(module).items()
                       if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
                       and getattr(v, "__module__", None) == module.__name__)
        raise UsageError(f"{file} has no {name!r}" + (f"; it defines {', '.join(found)}"
                                                        if found else ""))
    return getattr(module, name), f"{Path(file).name}:{name}"


def check_analysis_template(model: CourseModel) -> None:
    """A template that does not parse, or names a variable the Analysis does not have,
    is one :class:`UsageError` line naming the model (before anything trains)."""
    import jinja2
    from jinja2 import meta

    from .report.format import FILTERS

    env = jinja2.Environment()
    env.filters.update(FILTERS)
    try:  # a syntax error, or a filter that does not exist (found when it compiles)
        tree = env.parse(model.analysis)
        names = meta.find_undeclared_variables(tree)
    except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError is one too
        raise UsageError(f"course model {model.id}: analysis template, line {exc.lineno}: "
                         f"{exc.message}") from exc
    unknown = sorted(names - ANALYSIS_VARIABLES)
    if unknown:
        raise UsageError(f"course model {model.id}: analysis template names unknown "
                         f"variable(s) {', '.join(unknown)}; it may use "
                         f"{', '.join(sorted(ANALYSIS_VARIABLES))}")


def check_course(course: Course, models: Sequence[CourseModel] | None = None) -> None:
    """Everything that can be checked before training: that every ``build=`` callable's
    source can be read (its runs are keyed on it), then the analysis templates."""
    for model in models or course.models:
        if model.build is not None:
            try:
                build_source(model.build)
            except UsageError as exc:
                raise UsageError(f"course model {model.id}: {exc}") from None
    for model in models or course.models:
        check_analysis_template(model)


__all__ = ["ANALYSIS_VARIABLES", "Course", "CourseModel", "DEFAULT_STEPS",
           "build_source", "check_analysis_template", "check_course",
           "import_file", "resolve_object", "where_in_student_code"]
