"""Run a design sweep (see mnist_course/models/sweeps.py), seed by seed, breadth first.

    python scripts/sweep.py under_4000 --threads 1      # every candidate, its next seed
    python scripts/sweep.py mean_99_60 --only final_smoothing

Each round trains the next seed of every candidate still in the race, so the first
answers come for every candidate before any one of them uses the time of five seeds.
A run whose layers, recipe and seed equal a stored course run's (the same cache key) is
copied from it instead of trained again. Runs go to <results>/sweep/<candidate>/seed-N/.

Several runners may share a sweep, one per core: a runner claims the seed it trains with a
lock file holding its process id, a seed another live runner has claimed is left to it,
and the runner takes the candidate's next seed instead, ahead of the verdict on the seed
before it. A killed runner's seed is free again, and resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from mnist_course.assignment import lowest_last, mean_last
from mnist_course.course.recipe import cache_key
from mnist_course.errors import CourseError, UsageError
from mnist_course.models import COURSE
from mnist_course.models.ablation import FINAL_ABLATION
from mnist_course.models.sweeps import SWEEPS
from mnist_course.store.files import (
    metrics_path,
    resolve_results_dir,
    weights_path,
)
from mnist_course.store.sweep_runs import (
    base_candidate_runs,
    load_candidate_runs,
    next_seed,
    sweep_results_dir,
)

# The design sweeps, and the final model's ablation, which trains the same way.
RUNNABLE = {**SWEEPS, FINAL_ABLATION.id: FINAL_ABLATION}
CLAIM = "sweep-runner.lock"  # in the run's folder: the id of the process training it


def claimed_by_another(target, candidate_id: str, seed: int) -> bool:
    lock = metrics_path(target, candidate_id, seed).parent / CLAIM
    try:
        pid = int(lock.read_text())
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: is that process still there?
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def seed_to_train(sweep, cand, results_dir, target) -> int | None:
    """The candidate's next seed by the sweep's rule, or, when another runner trains that
    one, the next seed in the order that nobody trains yet."""
    runs = load_candidate_runs(results_dir, sweep, cand)
    if next_seed(sweep, runs, base_candidate_runs(results_dir, sweep, cand)) is None:
        return None
    done = {run["seed"] for run in runs}
    return next((seed for seed in sweep.seed_order if seed not in done
                 and not claimed_by_another(target, cand.id, seed)), None)


def matching_course_run(results_dir, model, seed):
    """A stored course run with the candidate's cache key, or None."""
    key = cache_key(model.architecture_json(), model.recipe, seed, None)
    for course_model in COURSE:
        path = metrics_path(results_dir, course_model.id, seed)
        if path.exists() and cache_key(course_model.architecture_json(), course_model.recipe,
                                       seed, None) == key:
            return course_model
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", choices=sorted(RUNNABLE))
    parser.add_argument("--only", nargs="+", default=None, metavar="CANDIDATE")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--results-dir", default=None)
    args = parser.parse_args(argv)

    import torch

    from mnist_course.training.data import load_mnist
    from mnist_course.training.train_model import run_course_model

    torch.set_num_threads(args.threads)
    sweep = RUNNABLE[args.sweep]
    chosen = [sweep.get(c) for c in args.only] if args.only else list(sweep.candidates)
    results_dir = resolve_results_dir(args.results_dir)
    data = None
    while True:
        trained = False
        for cand in chosen:
            target = sweep_results_dir(results_dir)
            seed = seed_to_train(sweep, cand, results_dir, target)
            if seed is None:
                continue
            source = matching_course_run(results_dir, cand.model, seed)
            if source is not None:
                metrics_path(target, cand.id, seed).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(weights_path(results_dir, source.id, seed),
                                weights_path(target, cand.id, seed))
                shutil.copyfile(metrics_path(results_dir, source.id, seed),
                                metrics_path(target, cand.id, seed))
                print(f"{cand.id} seed {seed}: the course run of {source.id} (same cache key)")
            else:
                data = data or load_mnist(args.data_dir, device="cpu")
                lock = metrics_path(target, cand.id, seed).parent / CLAIM
                lock.parent.mkdir(parents=True, exist_ok=True)
                lock.write_text(str(os.getpid()))
                try:
                    run_course_model(cand.model, data, target, seed=seed, progress=False)
                finally:
                    lock.unlink(missing_ok=True)
            record = load_candidate_runs(results_dir, sweep, cand)
            run = next(r for r in record if r["seed"] == seed)
            print(f"{sweep.id} {cand.id} seed {seed}: lowest {lowest_last(run):.2f} %, "
                  f"mean {mean_last(run):.3f} %", flush=True)
            trained = True
        if not trained:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (UsageError, CourseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
