"""Design sweeps: the seed order, the stopping rule and the table, on fabricated runs."""

import dataclasses
import json

from conftest import fake_record

from mnist_course.course.definition import CourseModel
from mnist_course.course.recipe import Recipe
from mnist_course.course.sweep import Sweep, candidate
from mnist_course.models.blocks import Conv, GlobalAvgPool
from mnist_course.models.sweeps import SWEEPS
from mnist_course.store.sweep_runs import next_seed, sweep_results_dir, sweep_table, sweep_verdict

BASE = CourseModel(id="base", step=3, title="Base", target=("t",), analysis="",
                   architecture=(Conv(8), GlobalAvgPool(), Conv(10, kernel=1, relu=False)),
                   recipe=Recipe(epochs=15))
SWEEP = Sweep(id="demo", title="Demo", goal="g", seed_order=(1, 0, 3),
              candidates=(candidate(BASE, "smooth", "label smoothing 0.1",
                                    label_smoothing=0.1),
                          candidate(BASE, "wide", "wider", architecture=(Conv(16),))))


# What an optimizer is set up with: switching optimizers is one change with its own settings.
OPTIMIZER_SETTINGS = {"optimizer", "lr", "momentum", "nesterov", "beta1", "beta2"}


def _store(results_dir, model_id, seed, tests):
    path = sweep_results_dir(results_dir) / model_id / f"seed-{seed}" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(fake_record(model_id, seed=seed, tests=tests, params=3900)))


def test_a_candidate_is_its_base_with_one_change():
    smooth = SWEEP.get("smooth").model
    assert smooth.recipe.label_smoothing == 0.1 and smooth.architecture == BASE.architecture
    assert smooth.previous == "base" and SWEEP.get("wide").model.recipe == BASE.recipe


def test_seeds_go_in_the_sweep_order_and_stop_at_the_first_failure(tmp_path):
    passing = [99.0] * 10 + [99.45] * 5
    failing = [99.0] * 10 + [99.45] * 4 + [99.39]
    assert next_seed(SWEEP, []) == 1
    run = fake_record("smooth", seed=1, tests=passing)
    assert next_seed(SWEEP, [run]) == 0
    assert next_seed(SWEEP, [fake_record("smooth", seed=1, tests=failing)]) is None
    everything = [fake_record("smooth", seed=s, tests=passing) for s in (1, 0, 3)]
    assert next_seed(SWEEP, everything) is None


def test_the_table_shows_each_seed_lowest_and_mean_and_where_the_candidate_stands(tmp_path):
    _store(tmp_path, "smooth", 1, [99.0] * 10 + [99.5, 99.4, 99.6, 99.5, 99.5])
    _store(tmp_path, "smooth", 0, [99.0] * 10 + [99.5, 99.38, 99.6, 99.5, 99.5])
    _store(tmp_path, "smooth", 3, [99.0] * 15)  # after the failing seed: not the rule's
    rows = {row["id"]: row for row in sweep_table(tmp_path, SWEEP)}
    smooth = rows["smooth"]
    assert [s["seed"] for s in smooth["seeds"]] == [1, 0, 3]
    assert smooth["seeds"][0]["lowest"] == 99.4
    assert abs(smooth["seeds"][0]["mean"] - 99.5) < 1e-9
    assert [s["passes"] for s in smooth["seeds"]] == [True, False, False]
    assert smooth["state"] == "stopped" and smooth["passing"] == 1
    assert smooth["params"] == 3900
    assert rows["wide"]["state"] == "not run" and rows["wide"]["seeds"] == []


def test_the_built_in_sweeps_change_one_thing_each():
    from mnist_course.models import COURSE

    for sweep in SWEEPS.values():
        assert len({c.id for c in sweep.candidates}) == len(sweep.candidates)
        for cand in sweep.candidates:
            base = (sweep.get(cand.base) if cand.base in {c.id for c in sweep.candidates}
                    else None)
            base_model = base.model if base else COURSE.get(cand.base)
            old, new = base_model.recipe.to_dict(), cand.model.recipe.to_dict()
            changed = [name for name in new if new[name] != old[name]]
            if "optimizer" in changed:  # another optimizer comes with its own settings
                changed = [name for name in changed if name not in OPTIMIZER_SETTINGS]
                changed.append("optimizer")
            if cand.model.architecture != base_model.architecture:
                changed.append("architecture")
            assert len(changed) == 1, (cand.id, changed)


MEAN_SWEEP = Sweep(id="mean", title="Mean", goal="g", seed_order=(1, 0), mean_goal=99.5,
                   stop_at_first_failure=False,
                   candidates=(candidate(BASE, "first", "first change", label_smoothing=0.1),
                               candidate(BASE, "second", "second change", based_on="first",
                                         lr=0.2)))


def test_a_candidate_behind_the_one_it_changes_drops_out_of_an_average_race(tmp_path):
    _store(tmp_path, "first", 1, [99.0] * 10 + [99.5] * 5)
    _store(tmp_path, "second", 1, [99.0] * 10 + [99.4] * 5)
    rows = {row["id"]: row for row in sweep_table(tmp_path, MEAN_SWEEP)}
    assert rows["second"]["state"] == "behind its base"
    assert rows["first"]["state"] == "running"  # its base is a course model: no such rule
    level = [fake_record("second", seed=1, tests=[99.0] * 10 + [99.5] * 5)]
    assert next_seed(MEAN_SWEEP, level, [fake_record("first", seed=1,
                                                     tests=[99.0] * 10 + [99.5] * 5)]) == 0


def test_the_verdict_names_the_winner_or_the_closest_candidate(tmp_path):
    _store(tmp_path, "smooth", 1, [99.0] * 10 + [99.5] * 5)
    _store(tmp_path, "smooth", 0, [99.0] * 10 + [99.5] * 4 + [99.39])
    _store(tmp_path, "wide", 1, [99.0] * 10 + [99.5] * 4 + [99.2])
    verdict = sweep_verdict(SWEEP, sweep_table(tmp_path, SWEEP))
    assert not verdict.reached and verdict.open == []
    assert verdict.closest["id"] == "smooth"  # one seed passing beats none
    for seed in (1, 0, 3):
        _store(tmp_path / "won", "wide", seed, [99.0] * 10 + [99.45] * 5)
    won = sweep_verdict(SWEEP, sweep_table(tmp_path / "won", SWEEP))
    assert won.reached and [row["id"] for row in won.winners] == ["wide"]
    assert won.closest is None
    over_budget = dataclasses.replace(SWEEP, parameter_limit=3900)  # the runs have 3,900
    assert not sweep_verdict(over_budget, sweep_table(tmp_path / "won", SWEEP)).reached


def test_an_average_goal_is_judged_on_the_mean_of_every_seed(tmp_path):
    for seed, level in ((1, 99.55), (0, 99.5)):
        _store(tmp_path, "first", seed, [99.0] * 10 + [level] * 5)
    verdict = sweep_verdict(MEAN_SWEEP, sweep_table(tmp_path, MEAN_SWEEP))
    assert verdict.reached and verdict.winners[0]["id"] == "first"
    short = dataclasses.replace(MEAN_SWEEP, mean_goal=99.6)
    verdict = sweep_verdict(short, sweep_table(tmp_path, short))
    assert not verdict.reached and verdict.closest["id"] == "first"
