"""Where a course comes from: a student's file (its ``COURSE``), or the built-in course.

Apart from :mod:`mnist_course.course.definition`, which defines what a course is: the built-in
course (:mod:`mnist_course.models`) is made of those definitions, so the module that
can hand out either sits above both.
"""

from __future__ import annotations

from pathlib import Path

from mnist_course.course.definition import Course
from mnist_course.course.student_code import import_file
from mnist_course.errors import UsageError
from mnist_course.models import builtin_course


def load_course(path: str | Path | None = None, build_command: str | None = None) -> Course:
    """The course in ``path`` (its ``COURSE``), or the built-in course when ``path`` is
    None. ``build_command`` is how the pages tell a reader to rebuild it."""
    if path is None:
        return builtin_course()
    module = import_file(path)
    course = getattr(module, "COURSE", None)
    if course is None:
        raise UsageError(f"{path} defines no COURSE; end it with COURSE = mc.Course(title=..., "
                         "models=[...])")
    if not isinstance(course, Course):
        raise UsageError(f"{path}: COURSE is a {type(course).__name__}, not an mc.Course")
    if build_command:
        import dataclasses

        course = dataclasses.replace(course, build_command=build_command)
    return course


__all__ = ["load_course"]
