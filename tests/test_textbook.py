"""The textbook's shape: the solution first, three steps, what goes beyond the assignment
apart; the final model's ablation on its step's overview; the pieces that lay them out."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import fake_record
from report_fixtures import fixture_record, write_fixture_results

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.recipe import Recipe, cache_key
from mnist_course.course.sweep import Sweep, candidate
from mnist_course.errors import UsageError
from mnist_course.models import COURSE
from mnist_course.models.ablation import CHAIN, FINAL_ABLATION, changed_fields
from mnist_course.models.step3_augmentation import FINAL
from mnist_course.report.ablation import ablation_view
from mnist_course.report.format import pct, pts
from mnist_course.report.model_results import load_results
from mnist_course.report.paths import model_page, step_page, sweep_page
from mnist_course.report.project import nav_entries
from mnist_course.report.render import render_pages
from mnist_course.report.site import load_site
from mnist_course.report.solution import network_blocks
from mnist_course.report.sweep_page import sweep_view
from mnist_course.store.files import metrics_path, write_json
from mnist_course.store.sweep_runs import sweep_results_dir

# ----------------------------------------------------------------------------------------
# Steps, the section beyond them, and where their pages live


def _model(id: str, step: int) -> CourseModel:
    return CourseModel(id=id, step=step, title=id, target=("t",),
                       architecture=FINAL.architecture, recipe=Recipe(), analysis="")


def test_a_step_beyond_the_assignment_is_headed_by_its_name_and_lives_apart():
    course = Course(title="c", models=(_model("a", 1), _model("b", 4)),
                    steps={1: "One", 4: "Further"}, beyond=4)
    assert course.heading(1) == "Step 1: One"
    assert course.heading(4) == "Further"
    assert step_page(course, 1) == "step-1/index.md"
    assert step_page(course, 4) == "beyond/index.md"
    assert model_page(course, course.get("b")) == "beyond/b.md"
    assert sweep_page(course) == "beyond/sweep.md"
    nav = dict(nav_entries(course))
    assert nav["Further"][0] == ("Overview", "beyond/index.md")
    assert nav["Step 1: One"][0] == ("Step 1 overview", "step-1/index.md")
    assert list(nav)[:2] == ["Home", "The solution"]


def test_beyond_must_name_one_of_the_steps():
    with pytest.raises(UsageError, match="beyond=5 is not one of the course's steps"):
        Course(title="c", models=(_model("a", 1),), beyond=5)


def test_a_course_without_that_step_keeps_its_sweep_page_beside_the_final_model():
    course = Course(title="c", models=(_model("a", 1), _model("b", 2)))
    assert sweep_page(course) == "step-2/sweep.md"


def test_the_built_in_course_holds_only_the_assignment_in_step_3():
    step3 = [m.id for m in COURSE.step_models(3)]
    assert step3[-1] == COURSE.final
    assert all(m.step == COURSE.beyond for m in COURSE if m.id.startswith("s3_")
               and m.id not in step3)
    assert COURSE.get("s3_averaged").step == COURSE.beyond


# ----------------------------------------------------------------------------------------
# The Solution page's diagram


ARCHITECTURE = {
    "layers": [
        {"name": "c1", "kind": "Conv2d", "output_shape": [8, 26, 26], "params": 72},
        {"name": "b1", "kind": "BatchNorm2d", "output_shape": [8, 26, 26], "params": 16},
        {"name": "r1", "kind": "ReLU", "output_shape": [8, 26, 26], "params": 0},
        {"name": "p1", "kind": "MaxPool2d", "output_shape": [8, 13, 13], "params": 0},
        {"name": "g", "kind": "AdaptiveAvgPool2d", "output_shape": [8, 1, 1], "params": 0},
        {"name": "c2", "kind": "Conv2d", "output_shape": [10, 1, 1], "params": 90},
    ],
    "receptive_field": [
        {"name": "c1", "kind": "Conv2d", "kernel": 3, "size_out": 26, "rf_out": 3},
        {"name": "p1", "kind": "MaxPool2d", "kernel": 2, "size_out": 13, "rf_out": 4},
        {"name": "g", "kind": "AdaptiveAvgPool2d", "kernel": 13, "size_out": 1, "rf_out": 28},
        {"name": "c2", "kind": "Conv2d", "kernel": 1, "size_out": 1, "rf_out": 28},
    ],
}


def test_each_block_folds_in_the_layers_after_its_operation():
    blocks = network_blocks(ARCHITECTURE)
    assert [b.operation for b in blocks] == ["3x3 conv", "max-pool", "global average pool",
                                             "1x1 conv"]
    assert blocks[0].then == ("batch norm", "ReLU")
    assert blocks[0].params == 72 + 16
    assert (blocks[1].channels, blocks[1].size, blocks[1].receptive_field) == (8, 13, 4)
    assert sum(b.params for b in blocks) == sum(layer["params"] for layer in ARCHITECTURE["layers"])


def test_an_architecture_without_its_tables_draws_no_blocks():
    assert network_blocks({}) == []


def test_the_solution_page_shows_the_final_network_and_the_command_that_retrains_it(tmp_path):
    write_fixture_results(tmp_path / "results")
    site = load_site(COURSE, tmp_path / "results", tmp_path / "docs", figures=False)
    text = render_pages(site)["solution.md"]
    assert f"[{FINAL.title}](step-3/s3_final.md)" in text
    assert f"--only {FINAL.id} --retrain" in text
    assert "```python" in text and "mc-network" not in text  # no architecture.json here
    assert "[Beyond the assignment](beyond/index.md)" in text


# ----------------------------------------------------------------------------------------
# The ablation: generated from the chain, shown on the final model's step


def test_each_candidate_undoes_exactly_one_change_of_the_chain():
    for (previous, _, _), (model, id, _) in zip(CHAIN, CHAIN[1:], strict=False):
        left = FINAL_ABLATION.get(id)
        assert left.undoes == model.id
        undone = changed_fields(FINAL, left.model)
        assert undone == {k: v for k, v in changed_fields(model, previous).items()}
        if model.architecture != previous.architecture:
            assert left.model.architecture == previous.architecture


def test_leaving_out_the_last_change_is_the_model_before_the_final_one():
    last = FINAL_ABLATION.candidates[-1].model
    before = COURSE.get(FINAL.previous)
    assert (cache_key(last.architecture_json(), last.recipe, 0, None)
            == cache_key(before.architecture_json(), before.recipe, 0, None))


def _with_ablation_runs(results, skip: str | None = None) -> None:
    write_fixture_results(results)
    for cand in FINAL_ABLATION.candidates:
        if cand.id == skip:
            continue
        for seed in FINAL_ABLATION.seed_order:
            write_json(metrics_path(sweep_results_dir(results), cand.id, seed),
                       fixture_record(cand.model, seed))


def test_the_ablation_compares_every_row_with_the_final_model_on_its_seeds(tmp_path):
    _with_ablation_runs(tmp_path)
    view = ablation_view(COURSE, load_results(COURSE, tmp_path), tmp_path)
    assert view.step == FINAL.step and view.seeds == list(FINAL.seeds) and not view.waiting
    assert [row.model.id for row in view.built_up][-1] == FINAL.id
    assert view.built_up[0].model.id == "s2_capacity" and view.built_up[0].versus_before is None
    for row in view.left_out:
        assert row.seeds.seeds == view.seeds
        assert row.versus_final.difference == pytest.approx(
            row.seeds.mean_last5 - view.final.mean_last5)
    assert view.leaving_out("s3_no_dropout").title.startswith("dropout's removal")

    text = render_pages(load_site(COURSE, tmp_path, tmp_path / "docs", figures=False)
                        )["step-3/index.md"]
    assert "## Why the final model is final" in text and "Still training" not in text
    row = view.left_out[0]
    assert (f"| {row.title} | {pct(row.seeds.mean_last5)} | "
            f"{pts(row.versus_final.difference)}") in text


def test_a_missing_candidate_is_named_and_left_out_of_the_table(tmp_path):
    _with_ablation_runs(tmp_path, skip="final_no_rotation")
    view = ablation_view(COURSE, load_results(COURSE, tmp_path), tmp_path)
    assert view.waiting == ["final_no_rotation"]
    assert "final_no_rotation" not in [row.title for row in view.left_out]
    assert len(view.left_out) == len(FINAL_ABLATION.candidates) - 1


def test_a_course_without_an_ablation_shows_none(tmp_path):
    write_fixture_results(tmp_path)
    course = dataclasses.replace(COURSE, ablation=None)
    assert ablation_view(course, load_results(course, tmp_path), tmp_path) is None


# ----------------------------------------------------------------------------------------
# The design sweeps rank only what has finished


def test_a_candidate_still_running_is_not_ranked(tmp_path):
    base = COURSE.get("s3_separable")
    sweep = Sweep(id="s", title="t", goal="g", seed_order=(0, 1), candidates=(
        candidate(base, "one_seed", "a"), candidate(base, "both", "b"),
        candidate(base, "failed", "c")))
    passing = [98.0] * 10 + [99.5] * 5
    failing = [98.0] * 10 + [99.3] * 5
    for id, seed, tests in (("one_seed", 0, passing), ("both", 0, passing), ("both", 1, passing),
                            ("failed", 0, failing)):
        write_json(metrics_path(sweep_results_dir(tmp_path), id, seed),
                   fake_record(id, seed, tests, params=3930))
    view = sweep_view(tmp_path, sweep)
    assert [row.row["id"] for row in view.ranking] == ["both", "failed"]
