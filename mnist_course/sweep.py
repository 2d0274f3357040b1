"""A design sweep: candidates that each change one thing of a model, run seed by seed.

Torch-free: the definitions are data, and :func:`sweep_table` reads stored runs only. A
sweep's runs live in the results store like a course's, under ``<results>/sweep/``, so a
candidate whose layers, recipe and seed equal a course model's has the same cache key and
its runs can be shared.

The rule the runner (``scripts/sweep.py``) follows, and the table shows: seeds go in the
sweep's order (the seeds where the base model was weakest first); with
``stop_at_first_failure`` a candidate stops at its first seed that misses the bar, so
the compute goes to the candidates still in the race.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .assignment import (
    ACCURACY_BAR,
    is_full_run,
    last_accuracies,
    lowest_last,
    mean_last,
    mean_over_seeds,
)
from .course import CourseModel
from .errors import ResultsError, UsageError
from .results import load_metrics, metrics_path
from .sourced import sourced
from .summary import run_passes

SWEEP_FOLDER = "sweep"


@dataclass(frozen=True)
class Candidate:
    """One candidate: a course model with one change, said in words."""

    model: CourseModel  # what trains; its id names the candidate's runs
    base: str  # the course model or earlier candidate it changes
    change: str  # the one change, in words a reader follows

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

    def get(self, candidate_id: str) -> Candidate:
        for candidate in self.candidates:
            if candidate.id == candidate_id:
                return candidate
        raise UsageError(f"unknown candidate {candidate_id!r} in sweep {self.id!r}; "
                         f"known: {', '.join(c.id for c in self.candidates)}")


def candidate(base: CourseModel, id: str, change: str, *, based_on: str | None = None,
              architecture: tuple | None = None, **recipe_changes) -> Candidate:
    """``base`` with its layers replaced and/or recipe fields changed, as a candidate."""
    model = dataclasses.replace(
        base, id=id, title=change, target=(change,), previous=based_on or base.id,
        architecture=architecture if architecture is not None else base.architecture,
        recipe=dataclasses.replace(base.recipe, **recipe_changes), analysis="")
    return Candidate(model=model, base=based_on or base.id, change=change)


def sweep_results_dir(results_dir: Path) -> Path:
    return Path(results_dir) / SWEEP_FOLDER


def load_candidate_runs(results_dir: Path, sweep: Sweep, candidate: Candidate) -> list[dict]:
    """The candidate's complete full runs, in the sweep's seed order."""
    runs = []
    for seed in sweep.seed_order:
        path = metrics_path(sweep_results_dir(results_dir), candidate.id, seed)
        if not path.exists():
            continue
        try:
            record = load_metrics(path)
        except ResultsError:
            continue
        if is_full_run(record):
            runs.append(record)
    return runs


def last5(record: dict) -> list[float]:
    """Test accuracy in each of a run's last epochs (:func:`last_accuracies`)."""
    return last_accuracies(record)


def next_seed(sweep: Sweep, runs: Sequence[dict]) -> int | None:
    """The seed the candidate trains next, or None when it is done (all seeds run, or,
    with the stopping rule, a seed failed)."""
    if sweep.stop_at_first_failure and any(not run_passes(run) for run in runs):
        return None
    done = {run["seed"] for run in runs}
    for seed in sweep.seed_order:
        if seed not in done:
            return seed
    return None


def sweep_table(results_dir: Path, sweep: Sweep) -> list[dict]:
    """One row per candidate: its change, parameters, each seed's lowest and mean of the
    last five epochs (unrounded), and where it stands."""
    rows = []
    for cand in sweep.candidates:
        runs = load_candidate_runs(results_dir, sweep, cand)
        seeds = [{"seed": run["seed"], "lowest": lowest_last(run),
                  "mean": mean_last(run), "passes": run_passes(run)} for run in runs]
        failed = [s["seed"] for s in seeds if not s["passes"]]
        pending = next_seed(sweep, runs)
        if failed and sweep.stop_at_first_failure:
            state = "stopped"
        elif pending is not None:
            state = "running" if runs else "not run"
        else:
            state = "done"
        first = runs[0] if runs else None
        rows.append({"id": cand.id, "base": cand.base, "change": cand.change,
                     "params": sourced(first["params"], ("record", first["model_id"],
                                                         first["seed"], "params"))
                     if first else None, "seeds": seeds,
                     "passing": len(seeds) - len(failed), "state": state,
                     "mean_of_means": mean_over_seeds(runs) if runs else None,
                     "bar": ACCURACY_BAR})
    return rows
