"""Number and text formatting shared by every page and by the Analysis templates.

Every figure the site prints goes through one of these filters, so the same number is
written the same way everywhere ("99.43 %", "+0.12 points", "7,946").
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from markupsafe import Markup

from mnist_course.sourced import source_of

# Characters that Markdown or HTML would interpret; replaced by numeric character
# references so that text read from a results file is shown, never interpreted.
_MARKDOWN_ESCAPES = {
    "&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "[": "&#91;", "]": "&#93;",
    "`": "&#96;", "*": "&#42;", "_": "&#95;", "\\": "&#92;", '"': "&#34;", "'": "&#39;",
    "#": "&#35;", "!": "&#33;",
}
MINUS = "\u2212"  # a real minus sign: "-0.12" would read as a hyphen in prose


@dataclass(frozen=True)
class Printed:
    """One figure a filter printed: the filter (``unit``), the text, and each value it
    printed with its source (:mod:`mnist_course.sourced`; None: a bare number)."""

    unit: str
    text: str
    values: tuple[float, ...]
    sources: tuple[tuple | None, ...]

    @property
    def bare(self) -> bool:
        return any(source is None for source in self.sources)


# What the figure filters printed while a page was rendered: the audit
# (:mod:`mnist_course.report.audit`) recomputes every one from its source and holds every
# number a page shows against this record, so a number typed into a template (through a
# filter or not), or changed in a written page, is caught.
_PRINTED: ContextVar[list[Printed] | None] = ContextVar("printed", default=None)


@contextmanager
def recording() -> Iterator[list[Printed]]:
    """Collect every figure the filters format inside the ``with`` block."""
    sink: list[Printed] = []
    token = _PRINTED.set(sink)
    try:
        yield sink
    finally:
        _PRINTED.reset(token)


def _shown(text: str, unit: str = "", *values: float) -> str:
    sink = _PRINTED.get()
    if sink is not None:
        sink.append(Printed(unit, text, tuple(float(v) for v in values),
                            tuple(source_of(v) for v in values)))
    return text


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value)


def pct(value: float | None) -> str:
    """An accuracy in percent: 99.4333 -> "99.43 %"."""
    if not _is_number(value):
        return "–"
    return _shown(f"{value:.2f} %", "pct", value)


def pts(value: float | None) -> str:
    """A difference of accuracies, signed: 0.12 -> "+0.12 points"."""
    if not _is_number(value):
        return "–"
    text = f"{value:+.2f}".replace("-", MINUS)
    return _shown(f"{text} points", "pts", value)


def count(value: int | float | None) -> str:
    """A whole number with thousands separators: 7946 -> "7,946"."""
    if not _is_number(value):
        return "–"
    return _shown(f"{round(value):,}".replace("-", MINUS), "count", value)


def seconds(value: float | None) -> str:
    """A duration: 75 -> "1 min 15 s", 4000 -> "1 h 6 min"."""
    if not _is_number(value):
        return "–"
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _shown(f"{hours} h {minutes} min", "seconds", value)
    if minutes:
        return _shown(f"{minutes} min {secs} s", "seconds", value)
    return _shown(f"{value:.1f} s" if value < 10 else f"{secs} s", "seconds", value)


def acc(value: float | None) -> str:
    """An accuracy in a table whose header gives the unit: 99.4333 -> "99.43"."""
    if not _is_number(value):
        return "–"
    return _shown(f"{value:.2f}", "acc", value)


def loss(value: float | None) -> str:
    """A cross-entropy loss: 0.021837 -> "0.0218"."""
    if not _is_number(value):
        return "–"
    return _shown(f"{value:.4f}", "loss", value)


def md(value: object) -> Markup:
    """Text from a results file, safe inside Markdown prose and table cells."""
    text = "" if value is None else str(value)
    text = " ".join(text.split())  # a newline would end a table row
    return Markup("".join(_MARKDOWN_ESCAPES.get(char, char) for char in text))


def cell(value: object) -> Markup:
    """One table cell from a results file: lists as "16×12×12", nothing as a dash."""
    if value is None or value == "":
        return Markup("–")
    if isinstance(value, list | tuple):
        return md("×".join(str(v) for v in value))
    return md(value)


def mean_sd(mean: float, sd: float) -> str:
    return _shown(f"{mean:.2f} ± {sd:.3f} %", "mean_sd", mean, sd)


FILTERS = {"pct": pct, "pts": pts, "count": count, "seconds": seconds, "md": md, "cell": cell,
           "mean_sd": mean_sd, "acc": acc, "loss": loss}


def rounded(value: float) -> float:
    """A value rounded as the pages print it (two decimals), for differences in prose."""
    return round(value, 2)


def noise_words(comparison) -> str:
    """How a difference of means stands against the seeds' own spread: one short phrase, no
    parenthesis (it often stands inside one), naming whose seeds the spread is. The page
    explains run-to-run noise once, beside the model's own spread; this only refers to it."""
    if not comparison.noise_known:
        return "measured on one seed, so the noise is unknown"
    spread = points(comparison.noise)
    # noise_of reads "the previous model's seeds 0, 1, 2": the model is enough here
    whose = (getattr(comparison, "noise_of", "") or "").partition("'s seeds")[0]
    noise = f"{whose}'s noise" if whose else "the noise"
    if comparison.within_noise:
        return f"within {noise} of {spread}"
    return f"more than {noise} of {spread}"


def joined(items) -> str:
    """Words in a list as prose: ["a"] -> "a", ["a", "b", "c"] -> "a, b and c"."""
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def seed_list(seeds) -> str:
    """Seeds named in prose, once: ["seed 1", "seed 2"] (or [1, 2]) -> "seeds 1 and 2",
    ["seed 4"] -> "seed 4", three or more -> "seeds 0, 1 and 3"."""
    numbers = [str(seed).removeprefix("seed ").strip() for seed in seeds]
    if not numbers:
        return "no seed"
    if len(numbers) == 1:
        return f"seed {numbers[0]}"
    return f"seeds {joined(numbers)}"


FILTERS.update(rounded=rounded, noise_words=noise_words, seed_list=seed_list)


def points(value: float | None) -> str:
    """An unsigned spread of accuracies: 0.071 -> "0.07 points"."""
    if not _is_number(value):
        return "–"
    return _shown(f"{value:.2f} points", "points", value)


def plural(value: int, noun: str) -> str:
    """A count with its noun: 1 -> "1 seed", 3 -> "3 seeds"."""
    return f"{value} {noun}{'' if value == 1 else 's'}"


def truncate_at(text: str, marker: str) -> str:
    """The text before ``marker`` ("rotation (the images as they are)" -> "rotation")."""
    return str(text).split(marker, 1)[0]


FILTERS.update(points=points, plural=plural, truncate_at=truncate_at)


# Comparisons in prose: two values that print the same are one value, "unchanged at", never
# "from 0.08 points to 0.08 points" or "0.08 points, against 0.08 points".
_UNITS = {"pct": pct, "pts": pts, "points": points, "count": count}


def _quietly(unit: str, value: float | None) -> str:
    """``value`` as the ``unit`` filter prints it, without recording it as shown."""
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(_UNITS)}")
    token = _PRINTED.set(None)
    try:
        return _UNITS[unit](value)
    finally:
        _PRINTED.reset(token)


def prints_same(value: float | None, other: float | None, unit: str = "pct") -> bool:
    """Whether the two values print the same with the ``unit`` filter."""
    return _quietly(unit, value) == _quietly(unit, other)


def from_to(before: float | None, after: float | None, unit: str = "pct") -> str:
    """A change as a verb phrase: "moved from 99.26 % to 99.31 %", or "stayed at 99.26 %"
    when the two print the same."""
    show = _UNITS[unit]
    if prints_same(before, after, unit):
        return f"stayed at {show(after)}"
    return f"moved from {show(before)} to {show(after)}"


def against(value: float | None, other: float | None, unit: str = "pct") -> str:
    """A value set beside another: "0.08 points, against 0.12 points", or "unchanged at
    0.08 points"."""
    show = _UNITS[unit]
    if prints_same(value, other, unit):
        return f"unchanged at {show(value)}"
    return f"{show(value)}, against {show(other)}"


def previously(before: float | None, now: float | None, unit: str = "pct") -> str:
    """What a value was before, for a remark beside the new one: "was 98.81 %", or
    "unchanged" when the two print the same."""
    return "unchanged" if prints_same(before, now, unit) else f"was {_UNITS[unit](before)}"


def mean_gap(reference: float, value: float) -> str:
    """What a model's mean gives up against a reference mean, as a verb phrase, from the
    unrounded means (rounded once, as printed): "gives up 0.16 points of mean accuracy",
    "scores 0.09 points higher", or "scores the same mean" when the gap prints as zero."""
    gap = reference - value
    if prints_same(abs(gap), 0.0, "points"):
        return f"scores the same mean, {pct(value)}"
    if gap > 0:
        return f"gives up {points(gap)} of mean accuracy"
    return f"scores {points(-gap)} higher"


FILTERS.update(prints_same=prints_same, from_to=from_to, against=against,
               previously=previously, mean_gap=mean_gap)
# The names the filters had before: a student's Analysis written with them still renders.
FILTERS.update(r2=rounded, same=prints_same, was=previously, behind=mean_gap)
