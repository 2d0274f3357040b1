"""LaTeX in the pages, rendered to MathML when MkDocs builds the site: no script, no font
service, nothing fetched by the reader's browser.

The pages write formulas as LaTeX: ``$k' = d(k - 1) + 1$`` inline, and a paragraph that
starts with ``$$`` and ends with ``$$`` for a formula on its own line. This module is a
Python-Markdown extension (``mkdocs.yml`` lists it as ``mnist_course.report.mathml``) that
turns both into MathML with ``latex2mathml``; browsers draw MathML themselves.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree

from latex2mathml.converter import convert
from markdown import Markdown
from markdown.blockprocessors import BlockProcessor
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor

# $...$ with no space just inside the dollars (so "5 $ and 6 $" is not a formula), and no
# digit right after the closing one. A backslash-escaped \$ is never a delimiter.
INLINE_MATH = r"(?<![\\$])\$(?=\S)((?:[^$\\\n]|\\.)+?)(?<=\S)\$(?![\d$])"
DISPLAY_MATH = re.compile(r"^\s*\$\$(.+?)\$\$\s*$", re.DOTALL)


class FormulaError(ValueError):
    """A formula latex2mathml cannot read."""


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """One LaTeX formula as a ``<math>`` element (``display``: on its own line)."""
    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception as exc:  # noqa: BLE001 - latex2mathml raises many kinds
        raise FormulaError(f"cannot render the formula {tex.strip()!r} ({exc}); fix its "
                           "LaTeX in the template that wrote it") from None


class _InlineMath(InlineProcessor):
    def handleMatch(self, m: re.Match, data: str):  # noqa: N802 - Markdown's API
        # Stashed as raw HTML, so emphasis, escapes and smart quotes never touch it.
        return self.md.htmlStash.store(tex_to_mathml(m.group(1))), m.start(0), m.end(0)


class _DisplayMath(BlockProcessor):
    def test(self, parent: etree.Element, block: str) -> bool:
        return bool(DISPLAY_MATH.match(block))

    def run(self, parent: etree.Element, blocks: list[str]) -> None:
        tex = DISPLAY_MATH.match(blocks.pop(0)).group(1)
        html = f'<div class="mc-math">{tex_to_mathml(tex, display=True)}</div>'
        paragraph = etree.SubElement(parent, "p")  # a lone placeholder: replaced whole
        paragraph.text = self.parser.md.htmlStash.store(html)


class MathExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 - Markdown's API
        # Inline: after code spans (190, so `$x$` in code stays code), before backslash
        # escapes (180) and emphasis, which would eat LaTeX's \{ and _. Display: before
        # lists and tables, which a line of LaTeX could look like.
        md.inlinePatterns.register(_InlineMath(INLINE_MATH, md), "mc_inline_math", 185)
        md.parser.blockprocessors.register(_DisplayMath(md.parser), "mc_display_math", 95)


def makeExtension(**kwargs) -> MathExtension:  # noqa: N802 - the name Markdown looks for
    return MathExtension(**kwargs)


__all__ = ["FormulaError", "MathExtension", "makeExtension", "tex_to_mathml"]
