"""The report: stored results into the site's pages, figures, audit and write-up.

Owns the pages (:mod:`.render`, templates in ``templates/``), what each model's runs show
(:mod:`.model_results`), the figures (:mod:`.plots`), the audit that recomputes every
printed number (:mod:`.audit`), a student's MkDocs project and WRITEUP.md
(:mod:`.project`) and the Markdown extension the pages use (:mod:`.mathml`).

Reads JSON and figure files only and never imports torch, so the site renders on a
machine without MNIST or a GPU. May import :mod:`mnist_course.course`,
:mod:`mnist_course.models`, :mod:`mnist_course.store`, the assignment's terms and
:mod:`mnist_course.training.mnist_files` (torch-free); never training's other modules or the
pipeline. The builder (:mod:`mnist_course.pipeline.builder`) trains what is missing
first, then loads the site (:func:`load_site`) and writes its pages.
"""

from __future__ import annotations

from mnist_course.report.model_results import ModelResults, load_results
from mnist_course.report.render import GENERATED_MARK, Site, render_analysis, render_pages
from mnist_course.report.site import WriteLog, load_site, write_pages

__all__ = ["GENERATED_MARK", "ModelResults", "Site", "WriteLog", "load_results", "load_site",
           "render_analysis", "render_pages", "write_pages"]
