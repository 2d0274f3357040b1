import json

import pytest
import torch
from conftest import fake_record

from mnist_course.course.recipe import Augmentation, Recipe, cache_key
from mnist_course.errors import ResultsError, UsageError
from mnist_course.store.files import load_metrics, load_weights, save_weights, write_json


def test_recipe_json_round_trip():
    recipe = Recipe(epochs=3, optimizer="adamw", lr=0.002, schedule="onecycle",
                    augmentation=Augmentation(rotation=7, translate=0.1), label_smoothing=0.1)
    assert Recipe.from_json(recipe.to_json()) == recipe
    assert json.loads(recipe.to_json())["augmentation"]["rotation"] == 7


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"optimizer": "lion"}, {"schedule": "cosine"},
                                 {"lr": -1.0}, {"label_smoothing": 1.5}])
def test_recipe_rejects_bad_values(bad):
    with pytest.raises(UsageError, match="bad recipe"):
        Recipe(**bad)


def test_recipe_rejects_unknown_fields():
    with pytest.raises(UsageError, match="unknown recipe field"):
        Recipe.from_dict({"epochs": 2, "warp_speed": 9})


def test_cache_key_changes_with_what_decides_the_numbers():
    base = cache_key([{"type": "Conv"}], Recipe(), 0, None)
    assert base == cache_key([{"type": "Conv"}], Recipe(), 0, None)
    assert base != cache_key([{"type": "Conv"}], Recipe(), 1, None)
    assert base != cache_key([{"type": "Conv"}], Recipe(lr=0.02), 0, None)
    assert base != cache_key([{"type": "MaxPool"}], Recipe(), 0, None)
    assert base != cache_key([{"type": "Conv"}], Recipe(), 0, 2000)


def test_metrics_round_trip_and_byte_identical_rewrite(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, fake_record())
    first = path.read_bytes()
    assert load_metrics(path)["model_id"] == "s3_final"
    write_json(path, load_metrics(path))
    assert path.read_bytes() == first
    assert not list(tmp_path.glob("*.tmp"))  # the temporary file was renamed away


@pytest.mark.parametrize("corrupt, message", [
    (lambda text: text[: len(text) // 2], "not valid JSON"),
    (lambda text: "hello", "not valid JSON"),
    (lambda text: text.replace('"schema_version": 1', '"schema_version": 99'), "schema_version 99"),
    (lambda text: text.replace('"params"', '"parameters"'), "lacks params"),
    (lambda text: text.replace('"test_accuracy"', '"test_acc"'), "epoch record 1 lacks"),
])
def test_bad_metrics_files_are_named_and_explained(tmp_path, corrupt, message):
    path = tmp_path / "metrics.json"
    write_json(path, fake_record())
    path.write_text(corrupt(path.read_text()))
    with pytest.raises(ResultsError) as error:
        load_metrics(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_weights_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    save_weights(state, tmp_path / "weights.pt")
    assert torch.equal(load_weights(tmp_path / "weights.pt")["w"], state["w"])


class _Payload:
    """Unpickling this would run code: a weights file must never do that."""

    def __reduce__(self):
        return (print, ("pwned",))


def test_weights_with_a_pickle_payload_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "payload": _Payload()}, path)
    with pytest.raises(ResultsError, match="refusing"):
        load_weights(path)
    assert "pwned" not in capsys.readouterr().out


def test_results_lock_refuses_a_second_build_and_recovers_stale_locks(tmp_path):
    import subprocess
    import sys

    from mnist_course.errors import CourseError
    from mnist_course.store.files import ResultsLock

    with ResultsLock(tmp_path):
        other = subprocess.run(
            [sys.executable, "-c", "from mnist_course.store.files import ResultsLock; "
             f"ResultsLock({str(tmp_path)!r}).acquire()"], capture_output=True, text=True)
        assert other.returncode != 0 and "another build is running" in other.stderr
    assert not (tmp_path / ".build.lock").exists()
    # a lock left by a killed process (its pid no longer exists) is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / ".build.lock").write_text(dead + "\n")
    with ResultsLock(tmp_path):
        assert (tmp_path / ".build.lock").read_text().strip() != dead
    with pytest.raises(CourseError):
        with ResultsLock(tmp_path):
            ResultsLock.acquire(type("Other", (ResultsLock,), {"_owner": lambda s: 1})(tmp_path))


def test_build_records_accumulate_and_a_broken_file_is_ignored(tmp_path):
    from mnist_course.store.files import BUILDS_FILE, read_builds, record_build

    assert read_builds(tmp_path) == []
    record_build(tmp_path, {"started_at": "t1", "wall_seconds": 12.5, "runs": ["a seed 0"]})
    record_build(tmp_path, {"started_at": "t2", "wall_seconds": 3.0, "runs": []})
    record_build(tmp_path, {"started_at": "t2", "wall_seconds": 9.0, "runs": ["b seed 1"]})
    assert [b["wall_seconds"] for b in read_builds(tmp_path)] == [12.5, 9.0]  # t2 updated
    (tmp_path / BUILDS_FILE).write_text("{not json")
    assert read_builds(tmp_path) == []


def test_anneal_epochs_is_checked_and_stays_out_of_old_cache_keys():
    with pytest.raises(UsageError, match="anneal_epochs"):
        Recipe(epochs=15, anneal_epochs=16)
    base = cache_key([], Recipe(schedule="onecycle"), 0, None)
    assert base == cache_key([], Recipe(schedule="onecycle", anneal_epochs=0), 0, None)
    assert base != cache_key([], Recipe(schedule="onecycle", anneal_epochs=12), 0, None)
    assert "of 12 epochs" in Recipe(schedule="onecycle", anneal_epochs=12).describe()
    # a quick check with fewer epochs than the cycle anneals over its whole run
    assert Recipe(schedule="onecycle", anneal_epochs=12).with_epochs(2).anneal_epochs == 0
    assert Recipe(schedule="onecycle", anneal_epochs=12).with_epochs(13).anneal_epochs == 12


def test_bn_recalibration_is_checked_and_stays_out_of_old_cache_keys():
    with pytest.raises(UsageError, match="bn_recalibration"):
        Recipe(bn_recalibration=-1)
    base = cache_key([], Recipe(), 0, None)
    assert base == cache_key([], Recipe(bn_recalibration=0), 0, None)
    assert base != cache_key([], Recipe(bn_recalibration=10_000), 0, None)
    assert "recomputed on 10,000 training images" in Recipe(bn_recalibration=10_000).describe()
    assert "batch-norm" not in Recipe().describe()


def test_options_added_later_leave_stored_cache_keys_alone():
    from mnist_course.course.recipe import Recipe, cache_key

    plain = Recipe()
    assert cache_key([], plain, 0, None) == cache_key(
        [], Recipe(ema_decay=0.0, beta1=0.9, beta2=0.999), 0, None)
    for changed in (Recipe(ema_decay=0.999), Recipe(beta1=0.7), Recipe(beta2=0.9)):
        assert cache_key([], changed, 0, None) != cache_key([], plain, 0, None)
    assert "weights averaged (decay 0.999)" in Recipe(ema_decay=0.999).describe()
    assert "betas 0.7, 0.9" in Recipe(optimizer="adam", beta1=0.7, beta2=0.9).describe()
    with pytest.raises(UsageError):
        Recipe(ema_decay=1.0)
