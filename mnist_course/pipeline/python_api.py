"""``mc.build(course, out, ...)``: ``mnist-course build`` from Python, for notebooks.

The same build as the command line (the same runs, site and WRITEUP.md), with the
command's options as keyword arguments, a progress bar that shows in a notebook, and a
:class:`BuildSummary` to look at afterwards. ``course`` is an ``mc.Course`` (its models
may be classes defined in notebook cells: such a course trains in this process, one run
at a time, since a child process could not import it) or the path of a course file
(trained like ``mnist-course build --course FILE``, ``jobs`` runs side by side)::

    import mnist_course as mc
    summary = mc.build(COURSE, "report", epochs=1, train_subset=2000)  # a quick preview
    summary.writeup                                                    # the file to read
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mnist_course.course.definition import Course
from mnist_course.course.loading import load_course
from mnist_course.errors import UsageError
from mnist_course.pipeline.options import BuildOptions


@dataclass(frozen=True)
class BuildSummary:
    """What one build did and where its outputs are."""

    trained: tuple[str, ...]  # "model seed N", for every run trained now
    reused: tuple[str, ...]  # stored runs that were current
    failed: tuple[str, ...]  # runs whose training failed (their pages say why)
    untrained: tuple[str, ...]  # missing or stale runs left as they are (no_train=True)
    project_dir: Path
    mkdocs_yml: Path  # the site: mkdocs serve -f <this>
    docs_dir: Path  # its pages
    writeup: Path  # WRITEUP.md (a preview's own write-up for a quick preview)
    preview: bool  # quick-preview runs (epochs= or train_subset=)

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        counts = (f"{len(self.trained)} trained, {len(self.reused)} reused, "
                  f"{len(self.failed)} failed"
                  + (f", {len(self.untrained)} not trained" if self.untrained else ""))
        lines = [f"build of {self.project_dir}: {counts}"]
        lines += [f"  failed: {label}" for label in self.failed]
        lines += [f"  site: mkdocs serve -f {self.mkdocs_yml}", f"  write-up: {self.writeup}"]
        return "\n".join(lines)


def build_options(*, seeds: Sequence[int] | None, only: Sequence[str] | None, retrain: bool,
                  no_train: bool, data_dir: str | Path | None, device: str, jobs: int | None,
                  progress: bool | None) -> BuildOptions:
    """The keyword arguments of :func:`build` as the options ``build_course`` takes (what
    ``mnist-course build`` parses from its command line)."""
    if seeds is not None:
        seeds = tuple(sorted(set(seeds)))
        if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
            raise UsageError(f"seeds= takes whole numbers >= 0 like (0, 1, 2), got {seeds!r}")
    if isinstance(only, str):
        only = [only]
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise UsageError(f"jobs= takes a whole number >= 1, got {jobs!r}")
    return BuildOptions(seeds=seeds, only=tuple(only) if only else None, retrain=retrain,
                        no_train=no_train, data_dir=str(data_dir) if data_dir else None,
                        device=device, jobs=jobs, progress=progress)


def build(course: Course | str | Path, out: str | Path, *, epochs: int | None = None,
          train_subset: int | None = None, seeds: Sequence[int] | None = None,
          only: Sequence[str] | str | None = None, retrain: bool = False,
          no_train: bool = False, data_dir: str | Path | None = None, device: str = "auto",
          jobs: int | None = None, progress: bool | None = True) -> BuildSummary:
    """Train what is missing or stale, then write ``out``'s site and write-up: what
    ``mnist-course build --out OUT`` does, with its options as keyword arguments
    (``epochs``/``train_subset`` make a quick preview). Raises :class:`UsageError` (one
    line naming the model and the fix) for bad input, before anything trains."""
    from mnist_course.pipeline.builder import build_course, project_paths
    from mnist_course.pipeline.jobs import Tally
    from mnist_course.report.project import writeup_name
    from mnist_course.store.runs import Preview

    for name, value in (("epochs", epochs), ("train_subset", train_subset)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise UsageError(f"{name}= takes a whole number >= 1, got {value!r}")
    preview = Preview(epochs, train_subset) if epochs or train_subset else None
    options = build_options(seeds=seeds, only=only, retrain=retrain, no_train=no_train,
                            data_dir=data_dir, device=device, jobs=jobs, progress=progress)
    if isinstance(course, Course):
        course = dataclasses.replace(course, build_command=f"mc.build(COURSE, {str(out)!r})")
        paths = project_paths(out, None, preview, in_process=True)
    elif isinstance(course, str | Path):
        command = f"mnist-course build --course {course} --out {out}"
        paths = project_paths(out, str(course), preview)
        course = load_course(course, build_command=command)
    else:
        raise UsageError(f"mc.build takes an mc.Course or the path of a course file, not a "
                         f"{type(course).__name__}")
    tally = Tally()
    build_course(course, paths, options, tally)
    project = Path(out)
    return BuildSummary(trained=tuple(tally.trained), reused=tuple(tally.reused),
                        failed=tuple(tally.failed), untrained=tuple(tally.untrained),
                        project_dir=project, mkdocs_yml=project / "mkdocs.yml",
                        docs_dir=paths.docs_dir, writeup=project / writeup_name(preview),
                        preview=preview is not None)


__all__ = ["BuildSummary", "build", "build_options"]
