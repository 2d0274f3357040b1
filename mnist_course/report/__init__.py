"""The report layer: turns stored results into the MkDocs site under docs/.

Reads JSON and figure files only and never imports torch, so the site renders on a
machine without MNIST or a GPU. ``scripts/build_report.py`` trains what is missing
first, then calls :func:`build_site`.
"""

from __future__ import annotations

from .course import ModelResults, Preview, RunState, load_results, run_state, seeds_for
from .render import GENERATED_MARK, Site, render_analysis, render_pages
from .site import WriteLog, build_site

__all__ = ["GENERATED_MARK", "ModelResults", "RunState", "Site", "WriteLog", "build_site",
           "Preview", "load_results", "render_analysis", "render_pages", "run_state", "seeds_for"]
