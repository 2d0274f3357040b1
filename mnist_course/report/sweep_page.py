"""The design-sweep page: every candidate of a course's sweeps, with each seed's lowest and
mean of the last five epochs, so a reader sees the search and not only its winner.

The figures come from :func:`mnist_course.store.sweep_runs.sweep_table` (stored runs under
``<results>/sweep/``); this module only lays them out in the sweep's seed order, with a
cell for every seed, run or not. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mnist_course.course.definition import Course
from mnist_course.course.sweep import Sweep
from mnist_course.report.paths import sweep_page
from mnist_course.sourced import constant
from mnist_course.store.sweep_runs import Verdict, sweep_table, sweep_verdict


@dataclass(frozen=True)
class SeedCell:
    seed: int
    run: dict | None  # sweep_table's {"lowest", "mean", "passes"}; None when not run
    why_not: str = ""  # for a seed without a run: "not run", "stopped before it"


@dataclass(frozen=True)
class CandidateRow:
    row: dict  # sweep_table's row: id, base, change, params, passing, state, mean_of_means
    cells: list[SeedCell]
    params: int | None = None  # from its runs, or its base's when the layers are the same

    @property
    def runs(self) -> int:
        return sum(cell.run is not None for cell in self.cells)

    @property
    def state(self) -> str:
        """Where the candidate stands, in words."""
        state = self.row["state"]
        if state == "stopped":
            failed = next(cell.seed for cell in self.cells if cell.run and not cell.run["passes"])
            return f"stopped at seed {failed}"
        if state == "behind its base":
            return f"stopped: behind {self.row['base']} on the seeds both ran"
        if state == "running":
            return f"running: {self.runs} of {len(self.cells)} seeds done"
        return {"not run": "not run yet", "done": "done"}.get(state, state)


def goal_name(sweep: Sweep) -> str:
    """The name a sweep's mean goal carries as a source (the audit reads it back)."""
    return f"{sweep.id}.mean_goal"


@dataclass(frozen=True)
class SweepView:
    sweep: Sweep
    rows: list[CandidateRow]
    verdict: Verdict

    @property
    def ranking(self) -> list[CandidateRow]:
        """The candidates that will run no more seeds, best first: for a goal on the mean,
        those run on every seed by their mean of the means; otherwise by seeds passing,
        then by seeds run (one passing seed is less evidence than five), then by the
        lowest last-5 epoch. A candidate still running is not ranked."""
        done = [row for row in self.rows if row.runs and row.row["state"] not in
                ("running", "not run")]
        if self.sweep.mean_goal is not None:
            complete = [row for row in done if row.runs == len(self.sweep.seed_order)]
            return sorted(complete, key=lambda row: -row.row["mean_of_means"])
        return sorted(done, key=lambda row: (-row.row["passing"], -row.runs,
                                             -min(s["lowest"] for s in row.row["seeds"])))

    @property
    def mean_goal(self) -> float | None:
        """The goal on the mean, carrying its source, so a gap to it is a sourced figure."""
        goal = self.sweep.mean_goal
        return None if goal is None else constant(goal, goal_name(self.sweep))

    def row(self, candidate_id: str) -> CandidateRow:
        return next(row for row in self.rows if row.row["id"] == candidate_id)

    def lowest_seed(self, candidate_id: str) -> dict:
        """The seed of the candidate whose lowest last-5 epoch is the lowest of all."""
        seeds = self.row(candidate_id).row["seeds"]
        return min(seeds, key=lambda seed: seed["lowest"])


def sweep_view(results_dir: Path, sweep: Sweep, course: Course | None = None,
               base_params: dict[str, int] | None = None) -> SweepView:
    """The sweep's candidates with one cell per seed of its seed order. A candidate not run
    yet that keeps the layers of the course model it changes shows that model's parameter
    count (``base_params``: model id -> parameters, from its stored runs)."""
    base_params = base_params or {}
    known = set(course.ids()) if course is not None else set()
    rows = []
    table = sweep_table(results_dir, sweep)
    for cand, row in zip(sweep.candidates, table, strict=True):
        by_seed = {s["seed"]: s for s in row["seeds"]}
        stopped = row["state"] in ("stopped", "behind its base")
        cells = [SeedCell(seed, by_seed.get(seed), "" if seed in by_seed else
                          "stopped before it" if stopped else "not run")
                 for seed in sweep.seed_order]
        params = row["params"]
        if params is None and cand.base in known and cand.base in base_params and (
                course.get(cand.base).architecture == cand.model.architecture):
            params = base_params[cand.base]
        rows.append(CandidateRow(row, cells, params))
    return SweepView(sweep, rows, sweep_verdict(sweep, table))


def sweep_views(course: Course, results_dir: Path, base_params: dict[str, int] | None = None
                ) -> list[SweepView]:
    return [sweep_view(results_dir, sweep, course, base_params) for sweep in course.sweeps]


__all__ = ["CandidateRow", "SeedCell", "SweepView", "goal_name", "sweep_page", "sweep_view",
           "sweep_views"]
