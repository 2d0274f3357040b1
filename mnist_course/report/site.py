"""Figures and pages into docs/, touching only files whose content changed.

Writing only what differs keeps a rebuild with nothing new byte-for-byte (and
mtime-for-mtime) identical, so ``git status`` stays clean and MkDocs reloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mnist_course.course.definition import Course
from mnist_course.report.ablation import ablation_view
from mnist_course.report.colab import (
    COLAB_NOTEBOOK,
    notebook_text,
    repository_of,
    training_notebook,
)
from mnist_course.report.concepts import load_concept_data
from mnist_course.report.model_results import ModelResults, load_results
from mnist_course.report.render import GENERATED_MARK, Site, docs_path, render_pages
from mnist_course.report.sweep_page import sweep_views
from mnist_course.sourced import sourced_json
from mnist_course.store.files import BUILDS_FILE, atomic_write_bytes, dump_json, read_builds
from mnist_course.store.runs import Preview, RunStore

FIGURES_DIR = "figures"
MANIFEST = "inputs.json"
PLOTS_SOURCE = Path(__file__).resolve().with_name("plots.py")
ASSETS = Path(__file__).resolve().parent / "assets"
STYLESHEET = "stylesheets/extra.css"  # the pages' look: badges, tables that fit


@dataclass
class WriteLog:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def write_if_changed(path: Path, payload: bytes, log: WriteLog) -> None:
    path = Path(path)
    if path.exists() and path.read_bytes() == payload:
        log.unchanged.append(path)
        return
    atomic_write_bytes(path, payload)
    log.written.append(path)


def _copy_figures(produced: dict[str, Path], docs_dir: Path, folder: str,
                  log: WriteLog) -> dict[str, str]:
    """Copy freshly drawn figures into docs/figures/<folder>/; return their docs paths."""
    paths = {}
    for name, source in sorted(produced.items()):
        target = f"{FIGURES_DIR}/{folder}/{Path(source).name}"
        write_if_changed(docs_path(docs_dir, target), Path(source).read_bytes(), log)
        paths[name] = target
    return paths


def figure_key(*inputs: object) -> str:
    """What a set of figures is drawn from: the records and the plotting code itself."""
    digest = hashlib.sha256(PLOTS_SOURCE.read_bytes())
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def make_figures(course: Course, models: list[ModelResults], docs_dir: Path,
                 log: WriteLog) -> dict[str, dict[str, str]]:
    """Draw the figures whose inputs changed; reuse the others.

    ``docs/figures/inputs.json`` keeps, per folder, the key of what its figures were drawn
    from; drawing all of them takes most of a rebuild, so unchanged ones are not redrawn.
    """
    manifest_path = docs_path(docs_dir, f"{FIGURES_DIR}/{MANIFEST}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    # Figures carry the model's title as the course names it today, not as it was named
    # when a run was stored (a retitled model keeps its runs).
    trained = {r.model.id: [dict(record, title=r.model.title) for record in r.records]
               for r in models if r.trained}
    steps = {r.model.id: r.model.step for r in models}
    jobs = {model_id: (figure_key(records), records) for model_id, records in trained.items()}
    headings = {step: course.heading(step) for step in course.steps}
    if trained:
        jobs["course"] = (figure_key(trained, steps, headings, course.final), None)
    figures: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="mnist-course-figures-") as scratch:
        for folder, (key, records) in jobs.items():
            known = manifest.get(folder, {})
            files = known.get("files", {})
            if known.get("key") == key and all(docs_path(docs_dir, f).exists()
                                               for f in files.values()):
                figures[folder] = files
                log.unchanged.extend(docs_path(docs_dir, f) for f in files.values())
                continue
            # matplotlib is slow to import: only when drawing
            import mnist_course.report.plots as plots

            out = Path(scratch) / folder
            produced = (plots.model_figures(records, out) if records is not None else
                        plots.course_figures(trained, steps, headings, course.final, out))
            figures[folder] = _copy_figures(produced, docs_dir, folder, log)
            # A figure drawn last time but not now (a constant-rate run has no LR plot)
            # would linger unlinked in docs/: remove it.
            for stale in set(files.values()) - set(figures[folder].values()):
                path = docs_path(docs_dir, stale)
                if path.exists():
                    path.unlink()
                    log.removed.append(path)
    keys = {folder: {"key": key, "files": figures[folder]} for folder, (key, _) in jobs.items()}
    write_if_changed(manifest_path, dump_json(keys).encode("utf-8"), log)
    return figures


def _is_generated(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(GENERATED_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def remove_orphans(docs_dir: Path, pages: dict[str, str], log: WriteLog) -> None:
    """Delete generated pages that no model produces any more (hand-written ones stay)."""
    expected = {docs_path(docs_dir, page).resolve() for page in pages}
    for path in sorted(Path(docs_dir).rglob("*.md")):
        if path.resolve() not in expected and _is_generated(path):
            path.unlink()
            log.removed.append(path)


def results_label(results_dir: Path) -> str:
    """The results folder as the pages name it: relative to here when it is below here."""
    path = Path(results_dir)
    try:
        inside = Path(os.path.relpath(path.resolve(), Path.cwd()))
    except ValueError:  # another drive on Windows
        return path.name
    return path.name if inside.parts[:1] == ("..",) else inside.as_posix()


def load_site(course: Course, results_dir: Path, docs_dir: Path,
              seeds: tuple[int, ...] | None = None, preview: Preview | None = None,
              figures: bool = True, log: WriteLog | None = None,
              label: str | None = None, store: RunStore | None = None) -> Site:
    """Everything the pages show: the course's stored runs (through ``store`` when the
    build already read them) and their figures (drawn into ``docs_dir`` where their
    inputs changed)."""
    log = log if log is not None else WriteLog()
    models = load_results(course, Path(results_dir), seeds, preview, store)
    drawn = make_figures(course, models, Path(docs_dir), log) if figures else {}
    return Site(course=course, models=models, figures=drawn,
                results_label=label or results_label(results_dir),
                builds=sourced_builds(Path(results_dir)),
                concept_data=load_concept_data(course, Path(results_dir),
                                               Path(docs_dir)),
                sweeps=sweep_views(course, Path(results_dir),
                                   {r.model.id: r.summary.params for r in models if r.trained}),
                ablation=ablation_view(course, models, Path(results_dir)),
                preview=preview)


def sourced_builds(results_dir: Path) -> list[dict]:
    """The builds of ``course_build.json``, every number carrying its place in the file."""
    return [sourced_json(build, BUILDS_FILE, ("builds", index))
            for index, build in enumerate(read_builds(results_dir))]


def write_pages(site: Site, docs_dir: Path, log: WriteLog) -> None:
    """Every page of a loaded site into ``docs_dir``, its stylesheet, and no orphans."""
    pages = render_pages(site)
    for page, text in pages.items():
        write_if_changed(docs_path(docs_dir, page), text.encode("utf-8"), log)
    write_if_changed(docs_path(docs_dir, STYLESHEET), (ASSETS / "extra.css").read_bytes(), log)
    remove_orphans(Path(docs_dir), pages, log)


def write_colab_notebook(course: Course, docs_dir: Path, log: WriteLog) -> None:
    """The built-in course's Colab notebook into ``docs_dir``, installing the project from
    the repository that the ``mkdocs.yml`` beside ``docs_dir`` names (if it names one)."""
    repository = repository_of(Path(docs_dir).resolve().parent / "mkdocs.yml")
    notebook = training_notebook(course.title, repository, own_course=False)
    write_if_changed(docs_path(docs_dir, COLAB_NOTEBOOK),
                     notebook_text(notebook).encode("utf-8"), log)


__all__ = ["WriteLog", "load_site", "make_figures", "write_colab_notebook", "write_if_changed",
           "write_pages"]
