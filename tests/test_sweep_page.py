"""The design-sweep page shows every candidate of every sweep, run or not: its change, its
base, and for each seed (in the sweep's order) the lowest and mean of the last five epochs,
from the stored runs; a course without sweeps has no such page."""

from __future__ import annotations

import dataclasses

from conftest import fake_record

from mnist_course.models import COURSE
from mnist_course.models.sweeps import UNDER_4000
from mnist_course.report.format import pct
from mnist_course.report.project import nav_entries
from mnist_course.report.render import render_pages
from mnist_course.report.site import load_site
from mnist_course.store.files import metrics_path, write_json
from mnist_course.store.sweep_runs import sweep_results_dir

PASSING = [98.0 + 0.1 * i for i in range(10)] + [99.45, 99.52, 99.48, 99.50, 99.47]
FAILING = [98.0 + 0.1 * i for i in range(10)] + [99.41, 99.36, 99.44, 99.43, 99.40]


def _store(results, candidate: str, seed: int, tests: list[float]) -> dict:
    record = fake_record(candidate, seed, tests, params=3930)
    write_json(metrics_path(sweep_results_dir(results), candidate, seed), record)
    return record


def _cell(tests: list[float]) -> str:
    last = tests[-5:]
    return f"{pct(min(last))}<br>{pct(sum(last) / 5)}<br>"


def _row(text: str, candidate: str) -> list[str]:
    line = next(line for line in text.splitlines()
                if line.startswith(f"| **{candidate.replace('_', '&#95;')}**: "))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_every_candidate_shows_each_seed_in_the_sweeps_order(tmp_path):
    results = tmp_path / "results"
    _store(results, "sep_averaged", 1, PASSING)
    _store(results, "sep_averaged", 0, FAILING)  # the stopping rule ends it here
    _store(results, "sep_smoothing", 1, PASSING)
    site = load_site(COURSE, results, tmp_path / "docs", figures=False)
    text = render_pages(site)["beyond/sweep.md"]
    assert "| Candidate: its change, its base, parameters | Seed 1 | Seed 0 | Seed 3 |" in text

    stopped = _row(text, "sep_averaged")
    assert stopped[0].startswith("**sep&#95;averaged**: weights averaged (decay 0.999)<br>")
    assert stopped[0].endswith("(s3_separable.md), 3,930 parameters")
    assert stopped[1].startswith(_cell(PASSING)) and "mc-pass" in stopped[1]
    assert stopped[2].startswith(_cell(FAILING)) and "mc-fail" in stopped[2]
    assert stopped[3:6] == ["stopped before it"] * 3
    assert stopped[6:] == [pct((sum(PASSING[-5:]) + sum(FAILING[-5:])) / 10),
                           "stopped at seed 0"]

    running = _row(text, "sep_smoothing")
    assert running[2:6] == ["not run"] * 4
    assert running[-1] == "running: 1 of 5 seeds done; 1 of 1 seed passing"

    for candidate in UNDER_4000.candidates[2:]:  # not run at all: still listed
        row = _row(text, candidate.id)
        assert row[1:6] == ["not run"] * 5 and row[-1] == "not run yet"
    for sweep in COURSE.sweeps:
        assert f"## {sweep.title}" in text


def test_a_course_without_sweeps_has_no_sweep_page(tmp_path):
    course = dataclasses.replace(COURSE, sweeps=())
    site = load_site(course, tmp_path / "results", tmp_path / "docs", figures=False)
    pages = render_pages(site)
    assert not [page for page in pages if page.endswith("sweep.md")]
    assert "sweep.md" not in pages["beyond/index.md"]
    assert "sweep.md" not in str(nav_entries(course))
    with_sweeps = render_pages(load_site(COURSE, tmp_path / "results", tmp_path / "docs",
                                         figures=False))
    assert "[design sweeps](sweep.md)" in with_sweeps["beyond/index.md"]
    # A project's generated nav lists the page, after the step's models.
    beyond = dict(nav_entries(COURSE))[COURSE.heading(COURSE.beyond)]
    assert beyond[-1] == ("Design sweeps", "beyond/sweep.md")
