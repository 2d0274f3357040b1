"""Where a course's pages live inside docs/ (paths with forward slashes).

One place decides it, so the pages, the navigation, the audit and WRITEUP's links agree:
step N's overview and models under ``step-N/``, the step that goes beyond the assignment
under ``beyond/``, and the design sweeps beside that step's models. Torch-free.
"""

from __future__ import annotations

from mnist_course.course.definition import Course, CourseModel

BEYOND_FOLDER = "beyond"


def step_folder(course: Course, step: int) -> str:
    return BEYOND_FOLDER if step == course.beyond else f"step-{step}"


def step_page(course: Course, step: int) -> str:
    return f"{step_folder(course, step)}/index.md"


def model_page(course: Course, model: CourseModel) -> str:
    return f"{step_folder(course, model.step)}/{model.id}.md"


def sweep_page(course: Course) -> str:
    """The design sweeps: with the models beyond the assignment when the course has that
    step, else beside the final model."""
    step = course.beyond if course.beyond is not None else course.get(course.final).step
    return f"{step_folder(course, step)}/sweep.md"


__all__ = ["BEYOND_FOLDER", "model_page", "step_folder", "step_page", "sweep_page"]
