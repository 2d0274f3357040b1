"""The audit holds every written page to the stored runs, and it can fail.

The built-in course is audited from the committed docs/ and results/ (copied, without the
weights); the example course and the starter are audited by every `mnist-course build` in
tests/test_own_course.py, which fails when the audit finds anything.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from mnist_course.models import COURSE
from mnist_course.models.blocks import classifier, convs, map_before, walk
from mnist_course.models.step1_structure import SKELETON
from mnist_course.report.audit import Findings, audit_pages, check_prose, tables
from mnist_course.report.site import load_site

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def builtin(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit")
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copytree(REPO / "results", root / "results", ignore=shutil.ignore_patterns("*.pt"))
    return {"docs": root / "docs", "results": root / "results"}


def audit(results: Path, docs: Path) -> list[str]:
    return audit_pages(load_site(COURSE, results, docs), results, docs)


def last_five(results: Path, model_id: str) -> dict[int, list[float]]:
    out = {}
    for path in sorted((results / model_id).glob("seed-*/metrics.json")):
        record = json.loads(path.read_text())
        out[record["seed"]] = [e["test_accuracy"] for e in record["epochs"][-5:]]
    return out


def test_the_built_in_course_agrees_with_its_runs(builtin):
    assert audit(builtin["results"], builtin["docs"]) == []


def test_one_altered_table_figure_is_exactly_one_problem(builtin, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    lowest = min(min(v) for v in last_five(builtin["results"], "s3_final").values())
    page = docs / "step-3" / "s3_final.md"
    row = f"| Lowest of any last-5 epoch, all seeds | {lowest:.2f} % |"
    text = page.read_text()
    assert row in text
    page.write_text(text.replace(row, row.replace(f"{lowest:.2f}", f"{lowest + 0.01:.2f}")))
    problems = audit(builtin["results"], docs)
    assert len(problems) == 1, problems
    assert problems[0].startswith("step-3/s3_final.md, line ")
    assert "'Lowest of any last-5 epoch, all seeds'" in problems[0]
    assert f"the runs give '{lowest:.2f} %'" in problems[0]


def test_a_number_typed_into_an_analysis_is_caught(builtin, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    page = docs / "beyond" / "s3_lean.md"
    text = page.read_text()
    head, analysis = text.split("## Analysis\n", 1)
    page.write_text(head + "## Analysis\n" + "It once scored 12.34 % on a bad day.\n" + analysis)
    problems = audit(builtin["results"], docs)
    assert len(problems) == 1, problems
    assert problems[0].startswith("beyond/s3_lean.md, line ") and "'12.34 %'" in problems[0]


def test_one_altered_value_in_a_run_is_exactly_one_problem(builtin, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(builtin["results"], results)
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    path = results / "s3_lean" / "seed-1" / "metrics.json"
    record = json.loads(path.read_text())
    record["epochs"][0]["test_accuracy"] = round(record["epochs"][0]["test_accuracy"] - 0.5, 2)
    path.write_text(json.dumps(record))
    problems = audit(results, docs)
    assert len(problems) == 1, problems
    assert problems[0].startswith("beyond/s3_lean.md, line ")
    assert "'Test accuracy after epoch 1 (mean)'" in problems[0]


def test_a_wrong_badge_count_is_caught(builtin, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    failing = [seed for seed, last in last_five(builtin["results"], "s3_no_dropout").items()
               if min(last) < 99.40]
    page = docs / "step-3" / "index.md"
    text = page.read_text()
    total = len(last_five(builtin["results"], "s3_no_dropout"))
    passing = total - len(failing)
    cell = f"{passing} of {total} seeds {'passes' if passing == 1 else 'pass'}</span>"
    assert cell in text
    # Only the Dropout removed row: another model may pass as many seeds.
    lines = text.splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if "Dropout removed" in line and cell in line)
    wrong = (passing + 1) % (total + 1)
    lines[row] = lines[row].replace(cell, f"{wrong} of {total} seeds pass</span>")
    page.write_text("".join(lines))
    problems = audit(builtin["results"], docs)
    assert problems == [p for p in problems if p.startswith("step-3/index.md, line ")]
    assert len(problems) == 1 and "Dropout removed, requirements" in problems[0], problems


def test_a_badge_without_the_final_models_seed_count_is_caught(builtin, tmp_path):
    """A model on fewer seeds than the final model says so beside its badge; the audit
    holds the page to that clause as it holds the count."""
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    total = len(last_five(builtin["results"], "s2_gap"))
    final = len(last_five(builtin["results"], "s3_final"))
    assert total < final  # steps 1 and 2 train fewer seeds than the final model
    page = docs / "step-2" / "s2_gap.md"
    clause = f" · {total} seeds; the final model ran {final}"
    text = page.read_text()
    assert clause in text
    page.write_text(text.replace(clause, ""))
    problems = audit(builtin["results"], docs)
    assert len(problems) == 1 and problems[0].startswith("step-2/s2_gap.md, line "), problems
    assert "'Requirements met'" in problems[0]


def test_the_prose_rules():
    found = Findings("page.md")
    check_prose(found, "A change (+0.05 points, within noise (the seeds\nof one model)).\n\n"
                       "Spread over 0.08 points on average, against 0.08 points.\n\n"
                       "It moved from 99.26 % to 99.26 %.\n\n"
                       "Fine: from 99.26 % to 99.31 % (was 99.20 %), $f(g(x))$, Intel(R) (x).\n")
    assert [line for line, _ in found.problems] == [1, 4, 6]
    assert "parenthesis inside a parenthesis" in found.problems[0][1]
    assert "'0.08 points' with itself" in found.problems[1][1]
    # the course author's own words (a title, a Target) are theirs, not generated prose
    title = "A (very (nested)) title"
    mine = Findings("page.md")
    check_prose(mine, f"# {title}\n\nNext: [{title}](x.md) (it is {title}).\n", (title,))
    assert mine.problems == []


def test_tables_are_read_with_their_rows_inside_details_too():
    text = "| A | B |\n|:--|--:|\n| 1 | **2 %** |\n\n    | C |\n    |--:|\n    | 3 |\n"
    found = tables(text)
    assert [t.header for t in found] == [["A", "B"], ["C"]]
    assert found[0].rows == [(3, ["1", "2 %"])] and found[1].rows == [(7, ["3"])]


def test_layer_facts_come_from_the_layers():
    places = walk(SKELETON.architecture)
    assert [p.size for p in places] == [26, 24, 12, 12, 10, 8, 8, 1]
    before = convs(SKELETON.architecture, 3, after_pool=False)
    after = convs(SKELETON.architecture, 3, after_pool=True)
    kernel = classifier(SKELETON.architecture)
    assert (len(before), before[-1].field, len(after)) == (2, 5, 2)
    assert map_before(SKELETON.architecture, kernel) == kernel.layer.kernel == 8
    target = SKELETON.target[1]
    assert "two 3x3 convolutions" in target and "two more 3x3 convolutions" in target
    assert "a receptive field of 5x5" in target and "whole 8x8 map" in target
    assert "three more" not in target


def test_the_seed_means_are_rounded_once(builtin):
    from mnist_course.summary import summarize_seeds

    records = [json.loads(p.read_text()) for p in
               sorted((builtin["results"] / "s3_weight_decay").glob("seed-*/metrics.json"))]
    means = [statistics.fmean(e["test_accuracy"] for e in r["epochs"][-5:]) for r in records]
    seeds = summarize_seeds(records)
    assert f"{seeds.sd_last5:.3f}" == f"{statistics.stdev(means):.3f}"
    assert f"{seeds.mean_last5:.2f}" == f"{statistics.fmean(means):.2f}"


def test_every_build_runs_the_audit_and_fails_on_a_problem(tmp_path, monkeypatch, capsys):
    from report_fixtures import copy_docs, render

    import mnist_course.report.audit as audit_module

    docs = copy_docs(tmp_path / "docs")
    assert render(tmp_path / "results", docs) == 0  # nothing trained: nothing to disagree
    capsys.readouterr()
    monkeypatch.setattr(audit_module, "audit_pages",
                        lambda *args: ["index.md, line 3: a figure the runs do not give"])
    assert render(tmp_path / "results", docs) == 1
    assert "audit: index.md, line 3: a figure the runs do not give\n" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------
# Every printed figure carries its source, and the audit recomputes it


def _rewritten(results: Path, docs: Path) -> list[str]:
    """Write the pages again from ``results`` into ``docs``, then audit them."""
    from mnist_course.report.site import WriteLog, write_pages

    site = load_site(COURSE, results, docs)
    write_pages(site, docs, WriteLog())
    return audit_pages(site, results, docs)


def _with_template(monkeypatch, name: str, edit) -> None:
    """Render with the package's template ``name`` changed by ``edit`` (text -> text)."""
    import jinja2

    import mnist_course.report.render as render

    original = render.make_environment

    def environment():
        env = original()
        source = env.loader.get_source(env, name)[0]
        env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({name: edit(source)}), env.loader])
        return env

    monkeypatch.setattr(render, "make_environment", environment)


def test_a_number_typed_through_a_filter_is_exactly_one_problem(builtin, tmp_path, monkeypatch):
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    _with_template(monkeypatch, "step.md.j2",
                   lambda text: text + "\n{% if step == 1 %}{{ 12.34|pct }}{% endif %}\n")
    problems = _rewritten(builtin["results"], docs)
    assert "12.34 %" in (docs / "step-1" / "index.md").read_text()
    assert len(problems) == 1, problems
    assert problems[0].startswith("step-1/index.md, line ")
    assert "'12.34 %' has no source" in problems[0]


def test_a_difference_of_rounded_means_is_exactly_one_problem(builtin, tmp_path, monkeypatch):
    """The lightest model's difference taken between its rounded mean and the previous
    model's: the audit recomputes it and names the rounding."""
    import mnist_course.summary as summary
    from mnist_course.assignment import mean_over_seeds, on_seeds, shared_seeds

    def rounded_first(current, previous):
        seeds = shared_seeds(current, previous)
        means = [round(mean_over_seeds(on_seeds(runs, seeds)), 2) for runs in (current, previous)]
        if current[0]["model_id"] != "s1_lightest":
            return summary.mean_difference.__wrapped__(current, previous)
        return means[0] - means[1], seeds

    rounded_first.__wrapped__ = summary.mean_difference
    monkeypatch.setattr(summary, "mean_difference", rounded_first)
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    problems = _rewritten(builtin["results"], docs)
    assert len(problems) == 1, problems
    assert problems[0].startswith("step-1/s1_lightest.md, line ")
    assert "computed from rounded values" in problems[0]


def test_the_comparison_labels_its_columns_by_the_epochs_the_run_had(builtin, tmp_path):
    """A course trained for 10 epochs: the final model's table heads "Ep. 6" to "Ep. 10",
    and the audit finds nothing; the old constant labels would be one problem."""
    results = tmp_path / "results"
    shutil.copytree(builtin["results"], results)
    for path in (results / "s3_final").glob("seed-*/metrics.json"):
        record = json.loads(path.read_text())
        record["epochs"] = record["epochs"][:10]
        path.write_text(json.dumps(record))
    docs = tmp_path / "docs"
    shutil.copytree(builtin["docs"], docs)
    assert _rewritten(results, docs) == []
    page = docs / "comparison.md"
    text = page.read_text()
    header = "| Seed | Lowest | Mean | Ep. 6 | Ep. 7 | Ep. 8 | Ep. 9 | Ep. 10 |"
    assert header in text
    page.write_text(text.replace(header, "| Seed | Lowest | Mean | Ep. 11 | Ep. 12 | Ep. 13 | "
                                         "Ep. 14 | Ep. 15 |"))
    problems = audit(results, docs)
    assert len(problems) == 1 and problems[0].startswith("comparison.md, line "), problems
    assert "Ep. 6" in problems[0]


def _writeup_problems(builtin, tmp_path) -> tuple[list[str], str]:
    from mnist_course.report.audit import audit_writeup
    from mnist_course.report.render import render_writeup

    site = load_site(COURSE, builtin["results"], builtin["docs"])
    path = tmp_path / "WRITEUP.md"
    path.write_text(render_writeup(site, "WRITEUP_files"), encoding="utf-8")
    return audit_writeup(site, builtin["results"], path, "WRITEUP_files"), path.read_text()


def test_the_write_up_agrees_with_its_runs(builtin, tmp_path):
    problems, text = _writeup_problems(builtin, tmp_path)
    assert problems == [] and "Requirement" in text


def test_a_number_added_to_the_write_up_template_is_exactly_one_problem(builtin, tmp_path,
                                                                        monkeypatch):
    _with_template(monkeypatch, "writeup.md.j2",
                   lambda text: text + "\nIt reached {{ 12.34|pct }} once.\n")
    problems, text = _writeup_problems(builtin, tmp_path)
    assert "It reached 12.34 % once." in text
    assert len(problems) == 1, problems
    assert problems[0].startswith("WRITEUP.md, line ") and "'12.34 %' has no source" in problems[0]
