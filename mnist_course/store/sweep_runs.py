"""A design sweep's stored runs: where they live, which seed runs next, the table and the
verdict read from them.

Torch-free: reads ``metrics.json`` records only. A sweep's runs live in the results store
like a course's, under ``<results>/sweep/``, so a candidate whose layers, recipe and seed
equal a course model's has the same cache key and its runs can be shared.

The rule the runner (``scripts/sweep.py``) follows, and the table shows: seeds go in the
sweep's order (the seeds where the base model was weakest first); with
``stop_at_first_failure`` a candidate stops at its first seed that misses the bar, so
the compute goes to the candidates still in the race.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnist_course.assignment import (
    ACCURACY_BAR,
    is_full_run,
    lowest_last,
    mean_last,
    mean_over_seeds,
)
from mnist_course.course.sweep import Candidate, Sweep
from mnist_course.errors import ResultsError
from mnist_course.sourced import sourced
from mnist_course.store.files import load_metrics, metrics_path
from mnist_course.summary import run_passes

SWEEP_FOLDER = "sweep"


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


def base_candidate_runs(results_dir: Path, sweep: Sweep, candidate: Candidate) -> list[dict]:
    """The runs of the candidate that ``candidate`` changes, or none when its base is a
    course model rather than another candidate of the sweep."""
    base = next((c for c in sweep.candidates if c.id == candidate.base), None)
    return load_candidate_runs(results_dir, sweep, base) if base is not None else []


def behind_base(runs: Sequence[dict], base_runs: Sequence[dict]) -> bool:
    """The candidate's last-5 means average lower than its base's on the seeds both ran:
    for a goal on the average, a candidate that cannot beat what it changes drops out."""
    base = {run["seed"]: mean_last(run) for run in base_runs}
    shared = [run for run in runs if run["seed"] in base]
    if not shared:
        return False
    ours = sum(mean_last(run) for run in shared) / len(shared)
    return ours < sum(base[run["seed"]] for run in shared) / len(shared)


def next_seed(sweep: Sweep, runs: Sequence[dict],
              base_runs: Sequence[dict] | None = None) -> int | None:
    """The seed the candidate trains next, or None when it is done: all seeds run; with
    the stopping rule, a seed failed; for a goal on the average, the candidate fell behind
    its base (``base_runs``: the runs of the candidate it changes, when that is one)."""
    if sweep.stop_at_first_failure and any(not run_passes(run) for run in runs):
        return None
    if not sweep.stop_at_first_failure and base_runs and behind_base(runs, base_runs):
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
        base_runs = base_candidate_runs(results_dir, sweep, cand)
        pending = next_seed(sweep, runs, base_runs)
        if failed and sweep.stop_at_first_failure:
            state = "stopped"
        elif pending is None and len(runs) < len(sweep.seed_order):
            state = "behind its base"
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


@dataclass(frozen=True)
class Verdict:
    """Whether a sweep reached its goal, from its table's rows.

    ``winners``: the rows that meet the goal on every seed of the sweep's order. Without
    one, ``closest`` is the row nearest to it: for a goal on every seed, the most seeds
    passing, then the highest lowest epoch; for a goal on the mean, the highest mean of the
    means among the rows run on every seed. ``open`` lists the rows still in the race.
    """

    reached: bool
    winners: list[dict]
    closest: dict | None
    open: list[dict]


def meets_goal(sweep: Sweep, row: dict) -> bool:
    if len(row["seeds"]) < len(sweep.seed_order):
        return False
    if sweep.parameter_limit is not None and not (row["params"] or 0) < sweep.parameter_limit:
        return False
    if sweep.mean_goal is not None:
        return row["mean_of_means"] >= sweep.mean_goal
    return all(seed["passes"] for seed in row["seeds"])


def sweep_verdict(sweep: Sweep, rows: Sequence[dict]) -> Verdict:
    winners = [row for row in rows if meets_goal(sweep, row)]
    tried = [row for row in rows if row["seeds"]]
    if sweep.mean_goal is not None:
        complete = [row for row in tried if len(row["seeds"]) == len(sweep.seed_order)]
        closest = max(complete, key=lambda row: row["mean_of_means"], default=None)
    else:
        closest = max(tried, key=lambda row: (row["passing"],
                                              min(seed["lowest"] for seed in row["seeds"])),
                      default=None)
    still_open = [row for row in rows if row["state"] in ("running", "not run")]
    return Verdict(bool(winners), winners, None if winners else closest, still_open)


__all__ = ["SWEEP_FOLDER", "Verdict", "base_candidate_runs", "behind_base", "load_candidate_runs",
           "meets_goal", "next_seed", "sweep_results_dir", "sweep_table", "sweep_verdict"]
