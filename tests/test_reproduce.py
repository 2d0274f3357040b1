"""scripts/reproduce_run.py's comparison: every difference but timing, named."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import torch
from conftest import fake_record

from mnist_course.course.recipe import Recipe
from mnist_course.store.files import save_weights

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "reproduce_run.py"


def _script():
    spec = importlib.util.spec_from_file_location("reproduce_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_records_differ_only_where_a_number_does():
    reproduce = _script()
    recipe = Recipe().to_dict()
    stored = fake_record(recipe={k: v for k, v in recipe.items() if k != "ema_decay"})
    again = copy.deepcopy(stored)
    again["recipe"] = recipe  # a field added later, at its old value: the same recipe
    for epoch in again["epochs"]:
        epoch["seconds"] += 3.0  # timing never counts
    assert reproduce.compare_records(stored, again) == []
    again["epochs"][4]["test_accuracy"] += 0.01
    again["lr_trace"] = [[0.0, 0.02]]
    assert reproduce.compare_records(stored, again) == [
        f"epoch 5 test_accuracy: stored {stored['epochs'][4]['test_accuracy']!r}, "
        f"now {again['epochs'][4]['test_accuracy']!r}", "lr_trace differs"]


def test_weights_compare_as_bytes_then_as_tensors(tmp_path):
    reproduce = _script()
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    save_weights(weights, tmp_path / "a.pt")  # as runs store them: the same bytes each time
    save_weights(weights, tmp_path / "b.pt")
    assert reproduce.compare_weights(tmp_path / "a.pt", tmp_path / "b.pt") == (True, [])
    torch.save(weights, tmp_path / "named.pt")  # torch.save names its archive after the file
    assert reproduce.compare_weights(tmp_path / "a.pt", tmp_path / "named.pt") == (False, [])
    save_weights({"w": weights["w"] + 1e-7}, tmp_path / "c.pt")
    assert reproduce.compare_weights(tmp_path / "a.pt", tmp_path / "c.pt") == (
        False, ["tensor w differs"])


def test_a_capability_the_stored_run_does_not_record_is_never_called_the_same():
    reproduce = _script()
    old = {"device_name": "AMD EPYC", "threads": 1}
    verdict = reproduce.machine_verdict(old, "cpu_capability", "AVX2")
    assert verdict.startswith("not recorded") and "same" not in verdict.split(":")[0]
    assert reproduce.machine_verdict(old, "device_name", "AMD EPYC") == "same"
    assert reproduce.machine_verdict({**old, "cpu_capability": "AVX512"}, "cpu_capability",
                                     "AVX2").startswith("DIFFERENT")
