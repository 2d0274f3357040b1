"""The reading extension on its own: numbers keep their units, durations stay whole, code is
left alone, and every figure becomes a link to its own file."""

from __future__ import annotations

import markdown
import pytest

from mnist_course.report.reading import NO_BREAK_SPACE, keep_units

NB = NO_BREAK_SPACE


@pytest.mark.parametrize(("text", "expected"), [
    ("99.42 % on seed 0", f"99.42{NB}% on seed 0"),
    ("+0.12 points, 1 point", f"+0.12{NB}points, 1{NB}point"),
    ("99.52 ± 0.034 %", f"99.52{NB}±{NB}0.034{NB}%"),
    ("took 2 min 39 s in all", f"took 2{NB}min{NB}39{NB}s in all"),
    ("1 h 6 min of training", f"1{NB}h{NB}6{NB}min of training"),
    ("4.5 s per epoch", f"4.5{NB}s per epoch"),
])
def test_a_number_keeps_its_unit(text, expected):
    assert keep_units(text) == expected


@pytest.mark.parametrize("text", ["3 seeds", "in 2 hours", "at 3 minutes", "15 epochs",
                                  "step 3 models"])
def test_words_that_only_start_like_a_unit_may_still_break(text):
    assert keep_units(text) == text


def test_the_page_keeps_units_outside_code_and_links_its_figures():
    html = markdown.markdown("Run for 2 min 39 s, `sleep 2 s` in code.\n\n![curves](c.svg)",
                             extensions=["mnist_course.report.reading"])
    assert f"2{NB}min{NB}39{NB}s" in html
    assert "<code>sleep 2 s</code>" in html
    assert '<a class="mc-full-size" href="c.svg"' in html
