"""Design sweeps: the seed order, the stopping rule and the table, on fabricated runs."""

import json

from conftest import fake_record

from mnist_course.course import CourseModel
from mnist_course.models.blocks import Conv, GlobalAvgPool
from mnist_course.models.sweeps import SWEEPS
from mnist_course.recipe import Recipe
from mnist_course.sweep import Sweep, candidate, next_seed, sweep_results_dir, sweep_table

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
