"""A student's own code: importing their file, the source a ``build=`` model's runs are
keyed on, and where in their code an error happened.

Torch-free. Nothing here knows what a course is (:mod:`mnist_course.course.definition`
does); this module only reads Python source, from a file or a notebook's cells.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
import linecache
import sys
import textwrap
import traceback
import types
from pathlib import Path
from typing import Any

from mnist_course.errors import UsageError

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


__all__ = ["build_source", "callable_name", "cell_class_source", "import_file",
           "readable_source", "where_in_student_code"]
