"""The Reproduce page accounts for every stored run: the recorded build that trained it, or
its own provenance, with dates a reader reads."""

from __future__ import annotations

import re

from conftest import fake_record
from report_fixtures import REPO

from mnist_course.models import COURSE
from mnist_course.report.provenance import build_of, origins, readable_time
from mnist_course.report.render import render_pages
from mnist_course.report.site import load_site
from mnist_course.store.files import load_metrics


def test_times_read_as_dates():
    assert readable_time("2026-12-04T03:12:41+00:00") == "4 Dec 2026, 03:12 UTC"
    assert readable_time("2026-11-22T06:31:00+02:00") == "22 Nov 2026, 04:31 UTC"
    assert readable_time("2026-11-22T04:31:00") == "22 Nov 2026, 04:31 UTC"  # no zone: UTC
    assert readable_time(None) == "–" and readable_time("yesterday") == "–"


def _run(model_id: str, seed: int, started: str) -> dict:
    return fake_record(model_id, seed, provenance={"started_at": started})


def test_a_run_belongs_to_the_build_whose_time_holds_it_not_to_an_earlier_one():
    builds = [
        {"started_at": "2026-11-22T02:00:00+00:00", "wall_seconds": 3000.0,
         "runs": ["s3_final seed 0", "s3_lean seed 0"]},
        {"started_at": "2026-11-22T04:00:00+00:00", "wall_seconds": 3000.0,
         "runs": ["s3_final seed 0"]},  # retrained s3_final seed 0 only
    ]
    retrained = _run("s3_final", 0, "2026-11-22T04:20:00+00:00")
    first = _run("s3_lean", 0, "2026-11-22T02:30:00+00:00")
    alone = _run("s3_lean", 1, "2026-11-22T04:10:00+00:00")  # in no build's list
    late = _run("s3_lean", 0, "2026-11-23T01:00:00+00:00")  # listed, but after every build
    assert build_of(retrained, builds) == 1
    assert build_of(first, builds) == 0
    assert build_of(alone, builds) is None and build_of(late, builds) is None
    account = origins([retrained, first, alone], builds)
    assert [len(row.stored) for row in account["builds"]] == [1, 1]
    assert [row.record["seed"] for row in account["outside"]] == [1]


def test_the_reproduce_page_lists_every_stored_run_with_where_it_came_from(tmp_path):
    site = load_site(COURSE, REPO / "results", tmp_path / "docs", figures=False)
    text = render_pages(site)["reproduce.md"]
    stored = [load_metrics(path) for model in COURSE
              for path in sorted((REPO / "results" / model.id).glob("seed-*/metrics.json"))]
    assert stored, "the repository stores course runs"
    rows = {(m.group(1), int(m.group(2))): m.group(3) for m in re.finditer(
        r"^\| \[([^\]]+)\]\([^)]*\) \| (\d+) \| ([^|]+?) \|", text, re.MULTILINE)}
    for record in stored:
        key = (record["model_id"].replace("_", "&#95;"), record["seed"])
        assert key in rows, key
        build = build_of(record, site.builds)
        assert rows[key] == (f"build {build + 1}" if build is not None else "outside a build")
        assert readable_time(record["provenance"]["finished_at"]) in text
    assert len(rows) == len(stored)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", text)  # no raw ISO time reaches the page
    n_outside = sum(build_of(r, site.builds) is None for r in stored)
    assert f"{len(stored)} stored runs: {len(stored) - n_outside} runs trained by" in text
