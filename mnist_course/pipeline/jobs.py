"""Training a build's pending runs, each in its own ``mnist-course train`` child process.

Several run side by side (``jobs``), each on one CPU thread. The thread count is fixed
rather than a share of the cores, because it changes a run's numbers: a run trained alone
and the same run trained among others must give the same record.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone

from mnist_course.course.definition import CourseModel
from mnist_course.pipeline.options import BuildOptions, BuildPaths
from mnist_course.store.files import load_metrics, metrics_path, record_build
from mnist_course.store.runs import RunStore

# CPU threads of every training process. One: small convolutions use one core far better
# than two, and a fixed count keeps a run's numbers independent of how many ran beside it.
THREADS_PER_JOB = 1


@dataclass
class Tally:
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    untrained: list[str] = field(default_factory=list)  # missing or stale, left as they are


def default_jobs(device: str) -> int:
    """One training per core on the CPU; a GPU runs one at a time (imports torch)."""
    from mnist_course.training.device import pick_device

    return 1 if pick_device(device).type == "cuda" else max(1, os.cpu_count() or 1)


def train_command(model: CourseModel, seed: int, options: BuildOptions, paths: BuildPaths,
                  threads: int = THREADS_PER_JOB) -> list[str]:
    """The ``mnist-course train`` call that trains one run in a child process."""
    command = [sys.executable, "-m", "mnist_course", "train", model.id, "--seed", str(seed),
               "--results-dir", str(paths.results_dir), "--device", options.device,
               "--threads", str(threads), "--no-progress"]
    if paths.course_file:
        command += ["--course", str(paths.course_file)]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    if paths.preview and paths.preview.epochs:
        command += ["--epochs", str(paths.preview.epochs)]
    if paths.preview and paths.preview.train_subset:
        command += ["--train-subset", str(paths.preview.train_subset)]
    return command


def train_one(model: CourseModel, seed: int, options: BuildOptions, paths: BuildPaths
              ) -> tuple[str, str | None, dict | None]:
    """Train one run in a child process; returns (label, error line, record)."""
    done = subprocess.run(train_command(model, seed, options, paths),
                          capture_output=True, text=True)
    label = f"{model.id} seed {seed}"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return label, lines[-1], None
    return label, None, load_metrics(metrics_path(paths.results_dir, model.id, seed))


def train_here(model: CourseModel, seed: int, paths: BuildPaths, data
               ) -> tuple[str, str | None, dict | None]:
    """Train one run in this process on ``data`` (MNIST, loaded once for the build);
    returns (label, error line, record) like :func:`train_one`."""
    from mnist_course.course.student_code import where_in_student_code
    from mnist_course.errors import CourseError
    from mnist_course.store.runs import Preview
    from mnist_course.training.train_model import run_course_model

    label = f"{model.id} seed {seed}"
    preview = paths.preview or Preview(None, None)
    try:
        record = run_course_model(model, data.subset(preview.train_subset, seed=seed),
                                  paths.results_dir, seed=seed, epochs=preview.epochs,
                                  progress=False)
    except CourseError as exc:
        return label, str(exc), None
    except Exception as exc:  # noqa: BLE001 - the student's code: one line, not a traceback
        return label, where_in_student_code(exc), None
    return label, None, record


def longest_first(pending: list[tuple[CourseModel, int]], store: RunStore
                  ) -> list[tuple[CourseModel, int]]:
    """``pending`` ordered by the training time its last stored run took, longest first
    (runs never trained before go first): with several jobs, no long run is left to start
    alone at the end while the other workers sit idle."""
    return sorted(pending, key=lambda run: store.training_seconds(run[0].id, run[1]),
                  reverse=True)  # stable: ties keep course order


def train_pending(pending: list[tuple[CourseModel, int]], options: BuildOptions,
                  paths: BuildPaths, store: RunStore, tally: Tally) -> None:
    """Train every pending run, ``options.jobs`` at a time, printing a line as each
    finishes and handing its record to ``store``; the build's wall time goes into
    ``course_build.json`` for the Reproduce page."""
    if not pending:
        return
    import warnings

    with warnings.catch_warnings():  # a notebook without ipywidgets gets the text bar
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    from mnist_course.training.data import load_mnist

    data = load_mnist(options.data_dir, download=True)  # fails once, clearly, before any run
    jobs = 1 if paths.in_process else min(options.jobs or default_jobs(options.device),
                                           len(pending))
    print(f"training {len(pending)} run(s) in this process, one at a time (the course's "
          "classes are in memory, so no other process can import them)" if paths.in_process
          else f"training {len(pending)} run(s), {jobs} at a time, {THREADS_PER_JOB} "
               "thread(s) each", flush=True)
    started_at, wall_start = datetime.now(timezone.utc), time.perf_counter()
    build = {"started_at": started_at.isoformat(timespec="seconds"), "wall_seconds": 0.0,
             "runs": [], "failed": [], "planned": len(pending), "jobs": jobs,
             "threads_per_job": THREADS_PER_JOB, "cpu_count": os.cpu_count(),
             "device": options.device}
    if paths.preview:
        build["preview"] = paths.preview.describe()
    progress = options.progress  # None: a bar on a terminal only
    bar = tqdm(total=len(pending), unit="run", desc="course runs", leave=False,
               disable=not (sys.stderr.isatty() if progress is None else progress))
    if paths.in_process:
        from mnist_course.training.device import pick_device

        data = data.to(pick_device(options.device))
    ordered = longest_first(pending, store)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        if paths.in_process:  # in this thread: an interrupt stops the one training
            finished = (((model, seed), train_here(model, seed, paths, data))
                        for model, seed in ordered)
        else:
            futures = {pool.submit(train_one, model, seed, options, paths): (model, seed)
                       for model, seed in ordered}
            finished = ((futures[future], future.result()) for future in as_completed(futures))
        for (model, seed), (label, error, record) in finished:
            bar.update(1)
            if error:
                store.forget(model.id, seed)  # a failed run may have written its record
                tally.failed.append(label)
                bar.write(f"{label:<20} FAILED: {error}")
            else:
                store.remember(model.id, seed, record)
                tally.trained.append(label)
                last = record["epochs"][-1]["test_accuracy"]
                seconds = record["provenance"]["training_seconds"]
                bar.write(f"{label:<20} trained: {last:.2f} % after {len(record['epochs'])} "
                          f"epochs ({seconds:.0f} s)")
            sys.stdout.flush()
            # Recorded after every run: a build killed halfway keeps its record so far.
            build.update(wall_seconds=round(time.perf_counter() - wall_start, 1),
                         runs=list(tally.trained), failed=list(tally.failed))
            record_build(paths.results_dir, build)
    bar.close()


__all__ = ["THREADS_PER_JOB", "Tally", "default_jobs", "longest_first", "train_command",
           "train_here", "train_one", "train_pending"]
