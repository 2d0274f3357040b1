"""The report layer: turns stored results into the MkDocs site under docs/.

Reads JSON and figure files only and never imports torch, so the site renders on a
machine without MNIST or a GPU. The builder (:mod:`mnist_course.build`) trains what is
missing first, then loads the site (:func:`load_site`) and writes its pages.
"""

from __future__ import annotations

from ..runs import Preview, RunState, seeds_for
from .course import ModelResults, load_results
from .render import GENERATED_MARK, Site, render_analysis, render_pages
from .site import WriteLog, load_site, write_pages

__all__ = ["GENERATED_MARK", "ModelResults", "Preview", "RunState", "Site", "WriteLog",
           "load_results", "load_site", "render_analysis", "render_pages", "seeds_for",
           "write_pages"]
