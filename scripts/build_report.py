"""Build the course site: train what is missing or stale, write artifacts, render the pages.

    python scripts/build_report.py              # train what is needed, then render docs/
    python scripts/build_report.py --no-train   # render from the stored results only
    mkdocs serve                                # read it

A stored run is reused when its cache key (model layers, recipe, seed, engine version)
matches the model's code today, it finished, and it is not a quick check. Only this
script imports torch, and only when it trains or writes an architecture summary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mnist_course.cli import OneLineParser, positive_int
from mnist_course.errors import CourseError, UsageError
from mnist_course.models import COURSE, CourseModel, get_model
from mnist_course.report.course import CURRENT, MISSING, run_state, seeds_for
from mnist_course.report.notebook import execute_notebook, notebook_is_stale
from mnist_course.report.site import build_site
from mnist_course.results import (
    ResultsLock,
    load_metrics,
    metrics_path,
    record_build,
    resolve_results_dir,
)

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "reuse.ipynb"


def seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"expected seeds >= 0 like 0,1,2, got {text!r}")
    return tuple(sorted(set(seeds)))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="build_report.py",
        description="Train every course model whose stored run is missing or stale, write "
                    "its architecture summary and figures, execute the reuse notebook when "
                    "its cells changed, and render the MkDocs pages into --docs-dir. A run is "
                    "reused when its model code, recipe and seed are unchanged.",
        epilog="Examples: build_report.py --no-train (render only); build_report.py --only "
               "s3_final --retrain; build_report.py --seeds 0,1,2 (fewer seeds for the "
               "final models). Read the site with: mkdocs serve")
    parser.add_argument("--only", nargs="+", metavar="MODEL_ID", default=None,
                        help="train only these models (the pages still show every model)")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the selected runs even when their stored run is current")
    parser.add_argument("--no-train", action="store_true",
                        help="never train or measure; render from what exists (missing runs are "
                             "shown as 'not trained yet', stale ones as stale)")
    parser.add_argument("--seeds", type=seed_list, default=None, metavar="0,1,2",
                        help="seeds for the multi-seed models (final and lean; default "
                             "0,1,2,3,4); single-seed models always use seed 0")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data); "
                             "read only when something needs training or the notebook runs")
    parser.add_argument("--results-dir", default=None,
                        help="results folder (default: $MNIST_COURSE_RESULTS or ./results)")
    parser.add_argument("--docs-dir", default=str(REPO / "docs"),
                        help="where the pages go (default: docs/ of this repository)")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda or auto (default: CUDA when available)")
    parser.add_argument("--no-notebook", action="store_true",
                        help="never execute the reuse notebook, even when it is stale")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="trainings run side by side, each in its own process with an "
                             "equal share of the CPU threads (default: one per CPU core on "
                             "the CPU, 1 on a GPU); small convolutions use one core far "
                             "better than two, so parallel runs finish the course sooner")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


@dataclass
class Tally:
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    untrained: list[str] = field(default_factory=list)  # missing or stale, left as they are


def plan_model(model: CourseModel, seeds: tuple[int, ...], args: argparse.Namespace,
               results_dir: Path, tally: Tally) -> tuple[list[int], str]:
    """Which seeds of ``model`` need training, and a progress line for the others."""
    parts, pending = [], []
    for seed in seeds:
        label = f"{model.id} seed {seed}"
        state = run_state(results_dir, model, seed)
        if state.state == CURRENT and not args.retrain:
            tally.reused.append(label)
            parts.append(f"seed {seed} reused")
        elif args.no_train:
            tally.untrained.append(label)
            why = "not trained" if state.state == MISSING else f"{state.state}: {state.detail}"
            parts.append(f"seed {seed} {why}")
        else:
            if state.state not in (CURRENT, MISSING):
                parts.append(f"seed {seed} will retrain ({state.state}: {state.detail})")
            pending.append(seed)
    return pending, (f"{model.id:<13} " + "; ".join(parts)) if parts else ""


def default_jobs(device: str) -> int:
    """One training per core on the CPU; a GPU runs one at a time."""
    from mnist_course.train import pick_device

    return 1 if pick_device(device).type == "cuda" else max(1, os.cpu_count() or 1)


def train_one(model: CourseModel, seed: int, args: argparse.Namespace, results_dir: Path,
              threads: int) -> tuple[str, str | None, dict | None]:
    """Train one run in a child process; returns (label, error line, record)."""
    command = [sys.executable, "-m", "mnist_course", "train", model.id, "--seed", str(seed),
               "--results-dir", str(results_dir), "--device", args.device, "--threads",
               str(threads), "--no-progress"]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    done = subprocess.run(command, capture_output=True, text=True)
    label = f"{model.id} seed {seed}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return label, lines[-1], None
    return label, None, load_metrics(metrics_path(results_dir, model.id, seed))


def longest_first(pending: list[tuple[CourseModel, int]], results_dir: Path
                  ) -> list[tuple[CourseModel, int]]:
    """``pending`` ordered by the training time its last stored run took, longest first
    (runs never trained before go first): with several jobs, no long run is left to start
    alone at the end while the other workers sit idle."""
    def last_seconds(run: tuple[CourseModel, int]) -> float:
        try:
            return float(load_metrics(metrics_path(results_dir, run[0].id, run[1]))
                         ["provenance"]["training_seconds"])
        except (CourseError, KeyError, TypeError, ValueError):
            return float("inf")
    return sorted(pending, key=last_seconds, reverse=True)  # stable: ties keep course order


def train_pending(pending: list[tuple[CourseModel, int]], args: argparse.Namespace,
                  results_dir: Path, tally: Tally) -> None:
    """Train every pending run, ``--jobs`` at a time, printing a line as each finishes;
    the build's wall time goes into ``course_build.json`` for the Reproduce page."""
    if not pending:
        return
    from mnist_course.data import load_mnist

    load_mnist(args.data_dir, download=True)  # fail once, clearly, before any child starts
    jobs = min(args.jobs or default_jobs(args.device), len(pending))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    print(f"training {len(pending)} run(s), {jobs} at a time, {threads} thread(s) each",
          flush=True)
    started_at, wall_start = datetime.now(timezone.utc), time.perf_counter()
    build = {"started_at": started_at.isoformat(timespec="seconds"), "wall_seconds": 0.0,
             "runs": [], "failed": [], "planned": len(pending), "jobs": jobs,
             "threads_per_job": threads, "cpu_count": os.cpu_count(), "device": args.device}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(train_one, model, seed, args, results_dir, threads)
                   for model, seed in longest_first(pending, results_dir)]
        for future in as_completed(futures):
            label, error, record = future.result()
            if error:
                tally.failed.append(label)
                print(f"{label:<20} FAILED: {error}", flush=True)
            else:
                tally.trained.append(label)
                last = record["epochs"][-1]["test_accuracy"]
                seconds = record["provenance"]["training_seconds"]
                print(f"{label:<20} trained: {last:.2f} % after {len(record['epochs'])} "
                      f"epochs ({seconds:.0f} s)", flush=True)
            # Recorded after every run: a build killed halfway keeps its record so far.
            build.update(wall_seconds=round(time.perf_counter() - wall_start, 1),
                         runs=list(tally.trained), failed=list(tally.failed))
            record_build(results_dir, build)


def write_architectures(models: Sequence[CourseModel], results_dir: Path) -> int:
    """Write architecture.json where it is missing or out of date (imports torch)."""
    from mnist_course.architecture import architecture_is_current, write_architecture

    written = 0
    for model in models:
        if not architecture_is_current(model, results_dir):
            write_architecture(model, results_dir)
            written += 1
    return written


def refresh_notebook(docs_dir: Path, data_dir: str | None, skip: str | None) -> str:
    """Execute the reuse notebook when its cells changed; ``skip`` names the option that
    forbids it."""
    from mnist_course.data import RAW_FILES, resolve_data_dir

    path = docs_dir / NOTEBOOK
    if not path.exists():
        return f"{NOTEBOOK}: not in {docs_dir}"
    if not notebook_is_stale(path):
        return f"{NOTEBOOK}: outputs current"
    raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
    if skip or not all((raw / name).exists() for name in RAW_FILES):
        why = skip or f"MNIST is not in {raw}"
        return f"{NOTEBOOK}: cells changed but not executed ({why}); outputs left as they were"
    execute_notebook(path, resolve_data_dir(data_dir))
    return f"{NOTEBOOK}: executed"


def refresh_concepts(results_dir: Path, docs_dir: Path, data_dir: str | None,
                     skip: str | None) -> str:
    """Measure what the Concepts pages need from torch and MNIST (the final model's
    batch-norm recalibration, the augmentation figure) when it is stale; ``skip`` names
    the option that forbids it."""
    if skip:
        return f"concepts: not measured ({skip}); stored measurements left as they were"
    from mnist_course.concept_measure import refresh_concept_measures

    return "; ".join(refresh_concept_measures(results_dir, docs_dir, data_dir))


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.no_train and args.retrain:
        raise UsageError("--no-train and --retrain contradict each other; pick one")
    selected = [get_model(model_id) for model_id in args.only] if args.only else list(COURSE)
    results_dir = resolve_results_dir(args.results_dir)
    docs_dir = Path(args.docs_dir)
    if not docs_dir.is_dir():
        raise UsageError(f"--docs-dir {docs_dir} is not a folder")
    with ResultsLock(results_dir):
        return build(args, selected, results_dir, docs_dir, started)


def build(args: argparse.Namespace, selected: list[CourseModel], results_dir: Path,
          docs_dir: Path, started: float) -> int:
    tally = Tally()
    pending = []
    for model in selected:
        seeds, line = plan_model(model, seeds_for(model, args.seeds), args, results_dir, tally)
        pending += [(model, seed) for seed in seeds]
        if line:
            print(line, flush=True)
    train_pending(pending, args, results_dir, tally)
    architectures = write_architectures(COURSE, results_dir)
    notebook = refresh_notebook(docs_dir, args.data_dir,
                                "--no-train" if args.no_train else
                                "--no-notebook" if args.no_notebook else None)
    concepts = refresh_concepts(results_dir, docs_dir, args.data_dir,
                                "--no-train" if args.no_train else None)
    log = build_site(results_dir, docs_dir, args.seeds)
    print(f"architecture summaries written: {architectures}; {notebook}")
    print(concepts)
    print(f"site: {len(log.written)} file(s) written, {len(log.unchanged)} unchanged, "
          f"{len(log.removed)} removed, in {docs_dir}")
    print(f"done in {time.perf_counter() - started:.1f} s: {len(tally.trained)} trained, "
          f"{len(tally.reused)} reused, {len(tally.failed)} failed"
          + (f", {len(tally.untrained)} not trained (--no-train)" if tally.untrained else ""))
    return 1 if tally.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except CourseError as exc:
        if args.debug:
            raise
        print(f"build_report.py: error: {exc}", file=sys.stderr)
        return exc.exit_code  # 2 for usage and data problems, 3 for unreadable results
    except KeyboardInterrupt:
        print("build_report.py: interrupted; finished runs are kept, a killed run resumes "
              "from its checkpoint next time", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
