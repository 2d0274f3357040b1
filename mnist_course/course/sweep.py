"""A design sweep: candidates that each change one thing of a model, run seed by seed.

Torch-free data, like a course: a sweep's candidates are course models, each with one
change said in words. Its runs, the table read from them and the rule for which seed runs
next are :mod:`mnist_course.store.sweep_runs`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from mnist_course.course.definition import CourseModel
from mnist_course.errors import UsageError


@dataclass(frozen=True)
class Candidate:
    """One candidate: a course model with one change, said in words."""

    model: CourseModel  # what trains; its id names the candidate's runs
    base: str  # the course model or earlier candidate it changes
    change: str  # the one change, in words a reader follows
    # For an ablation: the course model whose change this candidate leaves out.
    undoes: str | None = None

    @property
    def id(self) -> str:
        return self.model.id


@dataclass(frozen=True)
class Sweep:
    """Candidates towards one goal, with the seed order and stopping rule they share."""

    id: str
    title: str
    goal: str
    seed_order: tuple[int, ...]
    candidates: tuple[Candidate, ...]
    stop_at_first_failure: bool = True
    # What the goal asks beside the bar, as figures the verdict checks: fewer parameters
    # than this, and/or the seeds' last-5 means averaging at least this (percent).
    parameter_limit: int | None = None
    mean_goal: float | None = None
    # The levers its candidates pull, each explained in a line: (name, what it does and why
    # it might help), for a reader who has not met it.
    levers: tuple[tuple[str, str], ...] = ()

    def get(self, candidate_id: str) -> Candidate:
        for candidate in self.candidates:
            if candidate.id == candidate_id:
                return candidate
        raise UsageError(f"unknown candidate {candidate_id!r} in sweep {self.id!r}; "
                         f"known: {', '.join(c.id for c in self.candidates)}")


def candidate(base: CourseModel, id: str, change: str, *, based_on: str | None = None,
              architecture: tuple | None = None, undoes: str | None = None,
              **recipe_changes) -> Candidate:
    """``base`` with its layers replaced and/or recipe fields changed, as a candidate."""
    model = dataclasses.replace(
        base, id=id, title=change, target=(change,), previous=based_on or base.id,
        architecture=architecture if architecture is not None else base.architecture,
        recipe=dataclasses.replace(base.recipe, **recipe_changes), analysis="")
    return Candidate(model=model, base=based_on or base.id, change=change, undoes=undoes)


__all__ = ["Candidate", "Sweep", "candidate"]
