"""Build the course site: train what is missing or stale, write artifacts, render the pages.

    python scripts/build_report.py              # train what is needed, then render docs/
    python scripts/build_report.py --no-train   # render from the stored results only
    mkdocs serve                                # read it

The built-in course's entry point: one call of the builder every course uses
(:mod:`mnist_course.pipeline.builder`; ``mnist-course build --course FILE --out DIR`` for a
student's own), which plans, trains, measures, loads and renders, each stage in its own
module. A stored run is reused when its cache key (model layers, recipe, seed, engine
version) matches the model's code today, it finished, and it is not a quick check
(:mod:`mnist_course.store.runs` decides). Only the command line lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_course.cli import OneLineParser, add_build_options, build_options
from mnist_course.errors import CourseError, UsageError
from mnist_course.models import COURSE
from mnist_course.pipeline.builder import build_course
from mnist_course.pipeline.options import BuildPaths
from mnist_course.store.files import resolve_results_dir

REPO = Path(__file__).resolve().parent.parent


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="build_report.py",
        description="Train every course model whose stored run is missing or stale, write "
                    "its architecture summary and figures, execute the reuse notebook when "
                    "its cells changed, and render the MkDocs pages into --docs-dir. A run is "
                    "reused when its model code, recipe and seed are unchanged.",
        epilog="Examples: build_report.py --no-train (render only); build_report.py --only "
               "s3_final --retrain; build_report.py --seeds 0,1,2 (fewer seeds for the "
               "multi-seed models). Read the site with: mkdocs serve. A student's own "
               "course: mnist-course build --course my_course.py --out DIR")
    add_build_options(parser)
    parser.add_argument("--results-dir", default=None,
                        help="results folder (default: $MNIST_COURSE_RESULTS or ./results)")
    parser.add_argument("--docs-dir", default=str(REPO / "docs"),
                        help="where the pages go (default: docs/ of this repository)")
    parser.add_argument("--no-notebook", action="store_true",
                        help="never execute the reuse notebook, even when it is stale")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        docs_dir = Path(args.docs_dir)
        if not docs_dir.is_dir():
            raise UsageError(f"--docs-dir {docs_dir} is not a folder")
        options = build_options(args)
        paths = BuildPaths(results_dir=resolve_results_dir(args.results_dir), docs_dir=docs_dir)
        return build_course(COURSE, paths, options)
    except CourseError as exc:
        if args.debug:
            raise
        print(f"build_report.py: error: {exc}", file=sys.stderr)
        return exc.exit_code  # 2 for usage and data problems, 3 for unreadable results
    except KeyboardInterrupt:
        print("build_report.py: interrupted; finished runs are kept, a killed run resumes "
              "from its checkpoint next time", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
