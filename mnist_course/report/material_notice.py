"""Keeps Material for MkDocs' end-of-life notice out of a student's ``mkdocs`` output.

Each time ``mkdocs build`` or ``mkdocs serve`` loads the Material theme, the theme prints a
notice on stderr (it reaches end of life; set NO_MKDOCS_2_WARNING to hide this), unless that
environment variable is set. The notice says nothing about the site, yet it sits among the
build's lines and holds the word WARNING, which a student reads as something to fix.

Every ``mkdocs.yml`` this project writes or ships names :data:`QUIET` with a YAML tag
(:data:`MKDOCS_YML_LINES`). MkDocs reads the whole YAML file, and so imports this module,
before it loads the theme: the variable is set in time, in MkDocs' own process, whatever
shell the student typed the command in. A value already set is kept.
"""

from __future__ import annotations

import os

NOTICE_VARIABLE = "NO_MKDOCS_2_WARNING"

os.environ.setdefault(NOTICE_VARIABLE, "1")

QUIET = True  # what the tag names: importing it is the point, the value is unused

# ``extra:`` takes any key, so MkDocs accepts the entry (under --strict too).
MKDOCS_YML_LINES = (
    "extra:",
    "  # read before the theme loads: keeps Material's end-of-life notice out of the output",
    f"  material_notice_off: !!python/name:{__name__}.QUIET",
)

__all__ = ["MKDOCS_YML_LINES", "NOTICE_VARIABLE", "QUIET"]
