"""The report layer: turns stored results into the MkDocs site under docs/.

Reads JSON and figure files only and never imports torch, so the site renders on a
machine without MNIST or a GPU. ``scripts/build_report.py`` trains what is missing
first, then calls :func:`build_site`.
"""

from __future__ import annotations

from .course import ModelResults, RunState, load_course, run_state, seeds_for
from .render import GENERATED_MARK, Site, render_analysis, render_pages
from .site import WriteLog, build_site

__all__ = ["GENERATED_MARK", "ModelResults", "RunState", "Site", "WriteLog", "build_site",
           "load_course", "render_analysis", "render_pages", "run_state", "seeds_for"]
