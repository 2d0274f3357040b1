"""Building a course: train what is missing or stale, write its summaries, render its pages.

One builder for every course. ``scripts/build_report.py`` calls it for the built-in course
(results in ``results/``, pages in ``docs/``); ``mnist-course build --course FILE --out
DIR`` calls it for a student's course and also writes a complete MkDocs project
(``DIR/mkdocs.yml``, ``DIR/docs/``) and the write-up ``DIR/WRITEUP.md``.

A stored run is reused when its cache key (the model's layers or source, its recipe, the
seed, the engine version) matches the course today, it finished, and it is a full run (a
quick preview keeps its own runs apart, in ``DIR/results-preview/``). Trainings run side
by side in child processes (``--jobs``), each with an equal share of the CPU threads.
This module is orchestration: it imports torch only when something trains or an
architecture summary is written.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .course import Course, CourseModel, check_course
from .errors import CourseError, UsageError
from .report.course import CURRENT, MISSING, Preview, run_state, seeds_for
from .results import ResultsLock, load_metrics, metrics_path, record_build

NOTEBOOK = "reuse.ipynb"  # a notebook of this name in the docs folder is kept executed
PREVIEW_RESULTS = "results-preview"  # a project's quick-preview runs, apart from full runs


def seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"expected seeds >= 0 like 0,1,2, got {text!r}")
    return tuple(sorted(set(seeds)))


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """The options every build takes (the built-in course's and a student's)."""
    from .cli import positive_int

    parser.add_argument("--only", nargs="+", metavar="MODEL_ID", default=None,
                        help="train only these models (the pages still show every model)")
    parser.add_argument("--retrain", action="store_true",
                        help="retrain the selected runs even when their stored run is current")
    parser.add_argument("--no-train", action="store_true",
                        help="never train or measure; render from what exists (missing runs are "
                             "shown as 'not trained yet', stale ones as stale)")
    parser.add_argument("--seeds", type=seed_list, default=None, metavar="0,1,2",
                        help="seeds for the models that train on several (default: each "
                             "model's own); a model with one seed keeps it")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $MNIST_COURSE_DATA or ./data); "
                             "read only when something needs training")
    parser.add_argument("--device", default="auto",
                        help="cpu, cuda or auto (default: CUDA when available)")
    parser.add_argument("--jobs", type=positive_int, default=None,
                        help="trainings run side by side, each in its own process with an "
                             "equal share of the CPU threads (default: one per CPU core on "
                             "the CPU, 1 on a GPU); small convolutions use one core far "
                             "better than two, so parallel runs finish the course sooner")


@dataclass
class Tally:
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    untrained: list[str] = field(default_factory=list)  # missing or stale, left as they are


@dataclass(frozen=True)
class Target:
    """Where one build reads and writes, and how its children find the course."""

    results_dir: Path
    docs_dir: Path
    course_file: str | None = None  # None: the built-in course
    preview: Preview | None = None
    project_dir: Path | None = None  # set: also write mkdocs.yml and WRITEUP.md there
    # Train in the build's own process, one run at a time: the course exists only in
    # memory (its classes in a notebook's cells), so a child process could not import it.
    in_process: bool = False


def plan_model(model: CourseModel, seeds: tuple[int, ...], args: argparse.Namespace,
               target: Target, tally: Tally) -> tuple[list[int], str]:
    """Which seeds of ``model`` need training, and a progress line for the others."""
    parts, pending = [], []
    for seed in seeds:
        label = f"{model.id} seed {seed}"
        state = run_state(target.results_dir, model, seed, target.preview)
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
    from .train import pick_device

    return 1 if pick_device(device).type == "cuda" else max(1, os.cpu_count() or 1)


def train_command(model: CourseModel, seed: int, args: argparse.Namespace, target: Target,
                  threads: int) -> list[str]:
    """The ``mnist-course train`` call that trains one run in a child process."""
    command = [sys.executable, "-m", "mnist_course", "train", model.id, "--seed", str(seed),
               "--results-dir", str(target.results_dir), "--device", args.device,
               "--threads", str(threads), "--no-progress"]
    if target.course_file:
        command += ["--course", str(target.course_file)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if target.preview and target.preview.epochs:
        command += ["--epochs", str(target.preview.epochs)]
    if target.preview and target.preview.train_subset:
        command += ["--train-subset", str(target.preview.train_subset)]
    return command


def train_one(model: CourseModel, seed: int, args: argparse.Namespace, target: Target,
              threads: int) -> tuple[str, str | None, dict | None]:
    """Train one run in a child process; returns (label, error line, record)."""
    done = subprocess.run(train_command(model, seed, args, target, threads),
                          capture_output=True, text=True)
    label = f"{model.id} seed {seed}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return label, lines[-1], None
    return label, None, load_metrics(metrics_path(target.results_dir, model.id, seed))


def train_here(model: CourseModel, seed: int, target: Target, data
               ) -> tuple[str, str | None, dict | None]:
    """Train one run in this process on ``data`` (MNIST, loaded once for the build);
    returns (label, error line, record) like :func:`train_one`."""
    from .course import where_in_student_code
    from .train import run_course_model

    label = f"{model.id} seed {seed}"
    preview = target.preview or Preview(None, None)
    try:
        record = run_course_model(model, data.subset(preview.train_subset, seed=seed),
                                  target.results_dir, seed=seed, epochs=preview.epochs,
                                  progress=False)
    except CourseError as exc:
        return label, str(exc), None
    except Exception as exc:  # noqa: BLE001 - the student's code: one line, not a traceback
        return label, where_in_student_code(exc), None
    return label, None, record


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
                  target: Target, tally: Tally) -> None:
    """Train every pending run, ``--jobs`` at a time, printing a line as each finishes;
    the build's wall time goes into ``course_build.json`` for the Reproduce page."""
    if not pending:
        return
    import warnings

    with warnings.catch_warnings():  # a notebook without ipywidgets gets the text bar
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    from .data import load_mnist

    data = load_mnist(args.data_dir, download=True)  # fails once, clearly, before any run
    jobs = 1 if target.in_process else min(args.jobs or default_jobs(args.device),
                                           len(pending))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    print(f"training {len(pending)} run(s) in this process, one at a time (the course's "
          "classes are in memory, so no other process can import them)" if target.in_process
          else f"training {len(pending)} run(s), {jobs} at a time, {threads} thread(s) each",
          flush=True)
    started_at, wall_start = datetime.now(timezone.utc), time.perf_counter()
    build = {"started_at": started_at.isoformat(timespec="seconds"), "wall_seconds": 0.0,
             "runs": [], "failed": [], "planned": len(pending), "jobs": jobs,
             "threads_per_job": threads, "cpu_count": os.cpu_count(), "device": args.device}
    if target.preview:
        build["preview"] = target.preview.describe()
    progress = getattr(args, "progress", None)  # None: a bar on a terminal only
    bar = tqdm(total=len(pending), unit="run", desc="course runs", leave=False,
               disable=not (sys.stderr.isatty() if progress is None else progress))
    if target.in_process:
        from .train import pick_device

        data = data.to(pick_device(args.device))
    ordered = longest_first(pending, target.results_dir)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        # In this process, runs train in this thread: an interrupt stops the one training.
        finished = ((train_here(model, seed, target, data) for model, seed in ordered)
                    if target.in_process else
                    (future.result() for future in as_completed(
                        [pool.submit(train_one, model, seed, args, target, threads)
                         for model, seed in ordered])))
        for label, error, record in finished:
            bar.update(1)
            if error:
                tally.failed.append(label)
                bar.write(f"{label:<20} FAILED: {error}")
            else:
                tally.trained.append(label)
                last = record["epochs"][-1]["test_accuracy"]
                seconds = record["provenance"]["training_seconds"]
                bar.write(f"{label:<20} trained: {last:.2f} % after {len(record['epochs'])} "
                          f"epochs ({seconds:.0f} s)")
            sys.stdout.flush()
            # Recorded after every run: a build killed halfway keeps its record so far.
            build.update(wall_seconds=round(time.perf_counter() - wall_start, 1),
                         runs=list(tally.trained), failed=list(tally.failed))
            record_build(target.results_dir, build)
    bar.close()


def write_architectures(course: Course, results_dir: Path) -> int:
    """Write architecture.json where it is missing or out of date (imports torch)."""
    from .architecture import architecture_is_current, write_architecture

    written = 0
    for model in course:
        if not architecture_is_current(model, results_dir):
            write_architecture(model, results_dir)
            written += 1
    return written


def refresh_notebook(docs_dir: Path, data_dir: str | None, skip: str | None) -> str:
    """Execute the docs folder's reuse notebook when its cells changed; ``skip`` names the
    option that forbids it."""
    from .data import RAW_FILES, resolve_data_dir
    from .report.notebook import execute_notebook, notebook_is_stale

    path = docs_dir / NOTEBOOK
    if not path.exists():
        return ""
    if not notebook_is_stale(path):
        return f"{NOTEBOOK}: outputs current"
    raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
    if skip or not all((raw / name).exists() for name in RAW_FILES):
        why = skip or f"MNIST is not in {raw}"
        return f"{NOTEBOOK}: cells changed but not executed ({why}); outputs left as they were"
    execute_notebook(path, resolve_data_dir(data_dir))
    return f"{NOTEBOOK}: executed"


def refresh_concepts(course: Course, target: Target, data_dir: str | None,
                     skip: str | None) -> str:
    """Measure what the Concepts pages need from torch and MNIST (the final model's
    batch-norm recalibration, the augmentation figure) when it is stale; ``skip`` names
    the option that forbids it."""
    if not course.concepts:
        return ""
    if skip:
        return f"concepts: not measured ({skip}); stored measurements left as they were"
    if target.preview:
        return "concepts: not measured for a quick preview"
    from .concept_measure import refresh_concept_measures

    return "; ".join(refresh_concept_measures(course, target.results_dir, target.docs_dir,
                                              data_dir))


def build_course(course: Course, target: Target, args: argparse.Namespace,
                 tally: Tally | None = None) -> int:
    """Train, summarise and render ``course`` into ``target``; 0 when nothing failed.
    ``tally``, when given, is filled with what trained, was reused or failed."""
    started = time.perf_counter()
    if args.no_train and args.retrain:
        raise UsageError("--no-train and --retrain contradict each other; pick one")
    selected = [course.get(model_id) for model_id in args.only] if args.only else list(course)
    check_course(course)  # a broken template stops the build before anything trains
    target.docs_dir.mkdir(parents=True, exist_ok=True)
    target.results_dir.mkdir(parents=True, exist_ok=True)
    with ResultsLock(target.results_dir):
        return _build(course, target, args, selected, started,
                      Tally() if tally is None else tally)


def _build(course: Course, target: Target, args: argparse.Namespace,
           selected: list[CourseModel], started: float, tally: Tally) -> int:
    from .report.project import write_project
    from .report.site import WriteLog, load_site, write_pages

    if target.preview:
        print(f"quick preview: {target.preview.describe()} per run, kept in "
              f"{target.results_dir}", flush=True)
    pending = []
    for model in selected:
        seeds, line = plan_model(model, seeds_for(model, args.seeds), args, target, tally)
        pending += [(model, seed) for seed in seeds]
        if line:
            print(line, flush=True)
    if pending:  # imports torch, so only when something trains: every model, one line
        from .static_checks import check_before_training
        check_before_training(list(course), target.course_file)
    train_pending(pending, args, target, tally)
    architectures = write_architectures(course, target.results_dir)
    skip = ("--no-train" if args.no_train else
            "--no-notebook" if getattr(args, "no_notebook", False) else None)
    notebook = refresh_notebook(target.docs_dir, args.data_dir, skip)
    concepts = refresh_concepts(course, target, args.data_dir,
                                "--no-train" if args.no_train else None)
    log = WriteLog()
    site = load_site(course, target.results_dir, target.docs_dir, args.seeds, target.preview,
                     log=log, label=target.results_dir.name if target.project_dir else None)
    write_pages(site, target.docs_dir, log)
    # Issue 19, the audit: every written page held to the stored runs; any disagreement is
    # one line on stderr and fails the build (report/audit.py).
    from .report.audit import audit_pages
    problems = audit_pages(site, target.results_dir, target.docs_dir)
    print("".join(f"audit: {line}\n" for line in problems), end="", file=sys.stderr)
    print(f"architecture summaries written: {architectures}" + (f"; {notebook}" if notebook
                                                                else ""))
    if concepts:
        print(concepts)
    print(f"site: {len(log.written)} file(s) written, {len(log.unchanged)} unchanged, "
          f"{len(log.removed)} removed, in {target.docs_dir}")
    if target.project_dir is not None:
        for line in write_project(site, target.project_dir, target.docs_dir):
            print(line)
    print(f"done in {time.perf_counter() - started:.1f} s: {len(tally.trained)} trained, "
          f"{len(tally.reused)} reused, {len(tally.failed)} failed"
          + (f", {len(tally.untrained)} not trained (--no-train)" if tally.untrained else ""))
    return 1 if tally.failed or problems else 0  # issue 19: a disagreeing page fails


def project_target(out_dir: str | Path, course_file: str | None, preview: Preview | None,
                   in_process: bool = False) -> Target:
    """Where ``mnist-course build --out DIR`` puts things: DIR/results (or
    DIR/results-preview for a quick preview), DIR/docs, and the project files in DIR.
    ``in_process``: the course is an object in memory, trained in this process."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (it is created if missing)")
    results = out / (PREVIEW_RESULTS if preview else "results")
    return Target(results_dir=results, docs_dir=out / "docs",
                  course_file=str(Path(course_file).resolve()) if course_file else None,
                  preview=preview, project_dir=out, in_process=in_process)


__all__ = ["PREVIEW_RESULTS", "Tally", "Target", "add_build_options", "build_course",
           "longest_first", "plan_model", "project_target", "seed_list", "train_command"]
