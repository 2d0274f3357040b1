"""What a build measures after training, besides the runs: architecture summaries, the
reuse notebook's outputs and the Concepts pages' measurements. Each is redone only when
stale, and each says in one line what it did or why it did not.

Torch is imported only when something is measured: a ``--no-train`` build whose
summaries are current runs without it.
"""

from __future__ import annotations

from pathlib import Path

from mnist_course.course.definition import Course
from mnist_course.store.runs import architecture_is_current
from mnist_course.training.mnist_files import RAW_FILES, resolve_data_dir

NOTEBOOK = "reuse.ipynb"  # a notebook of this name in the docs folder is kept executed


def write_architectures(course: Course, results_dir: Path) -> str:
    """Write architecture.json where it is missing or out of date (imports torch then);
    returns the line that says what it did."""
    stale = [model for model in course if not architecture_is_current(model, results_dir)]
    if not stale:
        return "architecture summaries written: 0"
    try:
        from mnist_course.pipeline.measure_architecture import write_architecture
    except ImportError as exc:  # a render-only machine without torch
        return (f"architecture summaries: {len(stale)} out of date, not written ({exc}); "
                "the pages show the stored ones")
    for model in stale:
        write_architecture(model, results_dir)
    return f"architecture summaries written: {len(stale)}"


def refresh_notebook(docs_dir: Path, data_dir: str | None, skip: str | None) -> str:
    """Execute the docs folder's reuse notebook when its cells changed; ``skip`` names the
    option that forbids it."""
    from mnist_course.report.notebook import execute_notebook, notebook_is_stale

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


def refresh_concepts(course: Course, results_dir: Path, docs_dir: Path, data_dir: str | None,
                     skip: str | None, preview: bool = False) -> str:
    """Measure what the Concepts pages need from torch and MNIST (the final model's
    batch-norm recalibration, the augmentation figure) when it is stale; ``skip`` names
    the option that forbids it."""
    if not course.concepts:
        return ""
    if skip:
        return f"concepts: not measured ({skip}); stored measurements left as they were"
    if preview:
        return "concepts: not measured for a quick preview"
    from mnist_course.pipeline.measure_concepts import refresh_concept_measures

    return "; ".join(refresh_concept_measures(course, results_dir, docs_dir, data_dir))


__all__ = ["NOTEBOOK", "refresh_concepts", "refresh_notebook", "write_architectures"]
