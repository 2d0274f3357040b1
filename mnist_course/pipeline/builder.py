"""Building a course: plan, train, measure, load, render.

One builder for every course. ``scripts/build_report.py`` calls it for the built-in course
(results in ``results/``, pages in ``docs/``); ``mnist-course build --course FILE --out
DIR`` calls it for a student's course and also writes a complete MkDocs project
(``DIR/mkdocs.yml``, ``DIR/docs/``) and the write-up ``DIR/WRITEUP.md``.

Each stage lives in its own module and this one only calls them in order:

1. plan: which seeds are current and which need training (:mod:`mnist_course.store.runs`);
2. train: the pending runs, in child processes (:mod:`mnist_course.pipeline.jobs`);
3. measure: architecture summaries, the reuse notebook, the Concepts pages'
   measurements, each when stale (:mod:`mnist_course.pipeline.measure`);
4. load: every stored run and figure the pages show (:mod:`mnist_course.report.site`);
5. render: the pages, and a project's ``mkdocs.yml`` and ``WRITEUP.md``.

The runs are read once, by one :class:`~mnist_course.store.runs.RunStore` shared by the stages.
Torch is imported only by a stage that needs it: a ``--no-train`` build runs where torch is
not installed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.student_code import build_source
from mnist_course.errors import UsageError
from mnist_course.pipeline.jobs import Tally, train_pending
from mnist_course.pipeline.measure import refresh_concepts, refresh_notebook, write_architectures
from mnist_course.pipeline.options import BuildOptions, BuildPaths
from mnist_course.store.files import ResultsLock
from mnist_course.store.runs import CURRENT, MISSING, Preview, RunStore, plan_seeds, seeds_for

PREVIEW_RESULTS = "results-preview"  # a project's quick-preview runs, apart from full runs


def check_course(course: Course, models: Sequence[CourseModel] | None = None) -> None:
    """Everything that can be checked before training: that every ``build=`` callable's
    source can be read (its runs are keyed on it), then the analysis templates."""
    from mnist_course.report.render import check_analysis_template

    for model in models or course.models:
        if model.build is not None:
            try:
                build_source(model.build)
            except UsageError as exc:
                raise UsageError(f"course model {model.id}: {exc}") from None
    for model in models or course.models:
        check_analysis_template(model)


def plan_model(model: CourseModel, seeds: tuple[int, ...], options: BuildOptions,
               store: RunStore, tally: Tally) -> tuple[list[int], str]:
    """Which seeds of ``model`` need training, and a progress line for the others."""
    parts, pending = [], []
    for plan in plan_seeds(store, model, seeds, options.retrain, options.no_train):
        label, run = f"{model.id} seed {plan.seed}", plan.run
        if plan.train:
            if run.status not in (CURRENT, MISSING):
                parts.append(f"seed {plan.seed} will retrain ({run.status}: {run.detail})")
            pending.append(plan.seed)
        elif run.status != CURRENT:  # --no-train
            tally.untrained.append(label)
            why = "not trained" if run.status == MISSING else f"{run.status}: {run.detail}"
            parts.append(f"seed {plan.seed} {why}")
        else:
            tally.reused.append(label)
            parts.append(f"seed {plan.seed} reused")
    return pending, (f"{model.id:<13} " + "; ".join(parts)) if parts else ""


def build_course(course: Course, paths: BuildPaths, options: BuildOptions,
                 tally: Tally | None = None) -> int:
    """Train, summarise and render ``course`` into ``paths``; 0 when nothing failed.
    ``tally``, when given, is filled with what trained, was reused or failed."""
    started = time.perf_counter()
    selected = ([course.get(model_id) for model_id in options.only] if options.only
                else list(course))
    check_course(course)  # a broken template stops the build before anything trains
    paths.docs_dir.mkdir(parents=True, exist_ok=True)
    paths.results_dir.mkdir(parents=True, exist_ok=True)
    with ResultsLock(paths.results_dir):
        return _build(course, paths, options, selected, started,
                      Tally() if tally is None else tally)


def _build(course: Course, paths: BuildPaths, options: BuildOptions,
           selected: list[CourseModel], started: float, tally: Tally) -> int:
    from mnist_course.report.project import write_project
    from mnist_course.report.site import WriteLog, load_site, write_colab_notebook, write_pages

    store = RunStore(paths.results_dir, paths.preview)
    if paths.preview:
        print(f"quick preview: {paths.preview.describe()} per run, kept in "
              f"{paths.results_dir}", flush=True)
    # 1. plan
    pending = []
    for model in selected:
        seeds, line = plan_model(model, seeds_for(model, options.seeds), options, store, tally)
        pending += [(model, seed) for seed in seeds]
        if line:
            print(line, flush=True)
    if pending:  # imports torch, so only when something trains: every model, one line
        from mnist_course.architecture.static_checks import check_before_training
        check_before_training(list(course), paths.course_file)
    # 2. train
    train_pending(pending, options, paths, store, tally)
    # 3. measure
    architectures = write_architectures(course, paths.results_dir)
    notebook = refresh_notebook(paths.docs_dir, options.data_dir, options.notebook_skip)
    concepts = refresh_concepts(course, paths.results_dir, paths.docs_dir, options.data_dir,
                                options.measure_skip, preview=paths.preview is not None)
    # 4. load
    log = WriteLog()
    site = load_site(course, paths.results_dir, paths.docs_dir, options.seeds,
                     paths.preview, log=log,
                     label=paths.results_dir.name if paths.project_dir else None,
                     store=store)
    # The "Try it" page's models for the browser: torch only where an export is stale.
    from mnist_course.pipeline.try_it_exports import refresh_try_it
    site.try_it, try_it_line = refresh_try_it(site, paths.results_dir, paths.docs_dir,
                                              every_model=paths.project_dir is not None,
                                              log=log)
    # 5. render
    write_pages(site, paths.docs_dir, log)
    if paths.project_dir is None:  # the built-in course's site: its Colab notebook too
        write_colab_notebook(course, paths.docs_dir, log)
    # The audit: every written page held to the stored runs; any disagreement is one line
    # on stderr and fails the build (report/audit.py).
    from mnist_course.report.audit import audit_pages
    problems = audit_pages(site, paths.results_dir, paths.docs_dir)
    print("".join(f"audit: {line}\n" for line in problems), end="", file=sys.stderr)
    print(architectures + (f"; {notebook}" if notebook else ""))
    if concepts:
        print(concepts)
    print(try_it_line)
    print(f"site: {len(log.written)} file(s) written, {len(log.unchanged)} unchanged, "
          f"{len(log.removed)} removed, in {paths.docs_dir}")
    if paths.project_dir is not None:
        for line in write_project(site, paths.project_dir, paths.docs_dir):
            print(line)
        # The write-up a student hands in is held to the runs like every page.
        from mnist_course.report.audit import audit_writeup
        from mnist_course.report.project import writeup_files, writeup_name
        writeup = audit_writeup(site, paths.results_dir,
                                paths.project_dir / writeup_name(site.preview),
                                writeup_files(site.preview))
        print("".join(f"audit: {line}\n" for line in writeup), end="", file=sys.stderr)
        problems += writeup
    print(f"done in {time.perf_counter() - started:.1f} s: {len(tally.trained)} trained, "
          f"{len(tally.reused)} reused, {len(tally.failed)} failed"
          + (f", {len(tally.untrained)} not trained (--no-train)" if tally.untrained else ""))
    return 1 if tally.failed or problems else 0  # a disagreeing page fails the build


def project_paths(out_dir: str | Path, course_file: str | None, preview: Preview | None,
                  in_process: bool = False) -> BuildPaths:
    """Where ``mnist-course build --out DIR`` puts things: DIR/results (or
    DIR/results-preview for a quick preview), DIR/docs, and the project files in DIR.
    ``in_process``: the course is an object in memory, trained in this process."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder (it is created if missing)")
    results = out / (PREVIEW_RESULTS if preview else "results")
    return BuildPaths(results_dir=results, docs_dir=out / "docs",
                  course_file=str(Path(course_file).resolve()) if course_file else None,
                  preview=preview, project_dir=out, in_process=in_process)


__all__ = ["PREVIEW_RESULTS", "Tally", "BuildPaths", "build_course", "plan_model", "project_paths"]
