"""How the built pages read on any screen: a Python-Markdown extension (``mkdocs.yml`` lists
it as ``mnist_course.report.reading``) that touches the HTML MkDocs makes, not the Markdown
the build writes (the pages in ``docs/`` and ``WRITEUP.md`` stay as they are).

- **Every figure opens full size.** On a phone a figure is shrunk to the column and cannot
  be enlarged; each image not already in a link is wrapped in a link to its own file, so a
  tap opens it alone, where it can be zoomed.
- **A number keeps its unit.** "99.42 %", "+0.12 points", "99.52 ± 0.034 %" and a duration
  such as "2 min 39 s" or "1 h 6 min" never break between the number and its unit (or around
  the ±, or inside the duration): the space there becomes a no-break space. Code is left
  alone: a no-break space pasted into Python is a syntax error.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree

from markdown import Markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

NO_BREAK_SPACE = "\u00a0"
# A space after a digit and before a unit or a ±, after a ± and before a number, or between
# the parts of a duration ("2 min 39 s": after "h" or "min" and before its next number).
_UNIT_SPACE = re.compile(r"(?<=\d) (?=%|points?\b|±|(?:h|min|s|ms)\b)|(?<=±) (?=[\d\u2212+-])"
                         r"|(?<=\d h) (?=\d)|(?<=\d min) (?=\d)")
# Elements whose text is shown as it is written.
_VERBATIM = {"code", "pre", "kbd", "samp", "script", "style", "math"}


def keep_units(text: str) -> str:
    """``text`` with a no-break space wherever a number would part from its unit."""
    return _UNIT_SPACE.sub(NO_BREAK_SPACE, text)


def _keep_units_in(element: etree.Element) -> None:
    if element.tag in _VERBATIM:
        return
    if element.text:
        element.text = keep_units(element.text)
    for child in element:
        _keep_units_in(child)
        if child.tail:  # the text after a child is its parent's: after code, prose again
            child.tail = keep_units(child.tail)


def _link_images(root: etree.Element) -> None:
    for parent in list(root.iter()):
        if parent.tag == "a":
            continue
        for index, child in enumerate(list(parent)):
            if child.tag != "img" or not child.get("src"):
                continue
            link = etree.Element("a", {"href": child.get("src"), "class": "mc-full-size",
                                       "title": "Open the figure full size"})
            link.tail, child.tail = child.tail, None
            parent.remove(child)
            link.append(child)
            parent.insert(index, link)


class _Reading(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        _link_images(root)
        _keep_units_in(root)


class ReadingExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 - Markdown's API
        # After inline parsing (20), so the text is final and images exist; before MkDocs
        # rewrites relative links (0), so the new link's target is rewritten like the image's.
        md.treeprocessors.register(_Reading(md), "mc_reading", 8)


def makeExtension(**kwargs) -> ReadingExtension:  # noqa: N802 - the name Markdown looks for
    return ReadingExtension(**kwargs)


__all__ = ["NO_BREAK_SPACE", "ReadingExtension", "keep_units", "makeExtension"]
