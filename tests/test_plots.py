"""The site's figures: drawn from metrics dicts alone, valid files, byte-identical reruns."""

from __future__ import annotations

import base64
import random
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from mnist_course.results import validate_metrics

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fake_record(model_id: str = "s3_final", step: int = 3, seed: int = 0, epochs: int = 15,
                params: int = 7604, ceiling: float = 99.5, wrong: int = 6) -> dict:
    """A schema-valid metrics.json dict with plausible, seeded curves (no training)."""
    rng = random.Random(f"{model_id}-{seed}")
    rows = []
    for epoch in range(1, epochs + 1):
        progress = 1 - 0.6 ** epoch  # fast start, then a plateau below the ceiling
        test = round(ceiling - 2.5 * (1 - progress) + rng.uniform(-0.08, 0.08), 2)
        train = round(ceiling - 12 * (1 - progress) + rng.uniform(-0.1, 0.1), 4)
        rows.append({"epoch": epoch, "train_loss": round(0.5 * 0.7 ** epoch, 6),
                     "train_accuracy": train, "test_loss": round(0.08 * 0.85 ** epoch, 6),
                     "test_accuracy": test, "lr": 0.01, "seconds": 1.0})
    confusion = [[0] * 10 for _ in range(10)]
    for digit in range(10):
        confusion[digit][digit] = 1000 - digit
    for _ in range(40):
        true, predicted = rng.randrange(10), rng.randrange(10)
        if true != predicted:
            confusion[true][predicted] += rng.choice((1, 1, 2, 7))
    misclassified = [
        {"index": rng.randrange(10000), "label": i % 10, "predicted": (i + 3) % 10,
         "confidence": round(rng.uniform(0.5, 1.0), 4),
         "pixels": base64.b64encode(bytes(rng.randrange(256) for _ in range(784))).decode()}
        for i in range(wrong)
    ]
    steps_per_epoch = 4
    lr_trace = [[round(i / steps_per_epoch, 4), 0.01 + 0.09 * (i / (epochs * steps_per_epoch))]
                for i in range(epochs * steps_per_epoch + 1)]
    return validate_metrics({
        "schema_version": 1, "model_id": model_id, "step": step, "title": f"Model {model_id}",
        "seed": seed, "params": params, "has_linear": False,
        "architecture": [{"type": "Conv", "out_channels": 10, "kernel": 3, "padding": 0,
                          "batch_norm": True, "relu": True, "dropout": 0.0},
                         {"type": "GlobalAvgPool"},
                         {"type": "Conv", "out_channels": 10, "kernel": 1, "padding": 0,
                          "batch_norm": False, "relu": False, "dropout": 0.0}],
        "recipe": {"epochs": epochs, "schedule": "onecycle"}, "quick_check": False,
        "train_subset": None, "cache_key": "0123456789abcdef", "status": "complete",
        "failure": None, "epochs": rows, "lr_trace": lr_trace,
        "evaluation": {"test_count": 10000, "confusion_matrix": confusion,
                       "misclassified": misclassified},
        "provenance": {"device": "cpu", "training_seconds": 15.0},
    })


def failed_record(model_id: str = "s3_final", seed: int = 1) -> dict:
    record = fake_record(model_id, seed=seed)
    record.update(status="failed", failure="loss became NaN at epoch 3", epochs=[],
                  lr_trace=[])
    del record["evaluation"]
    return validate_metrics(record)


def course_records() -> tuple[dict[str, list[dict]], dict[str, int]]:
    models = [("s1_skeleton", 1, 19000, 99.3), ("s1_lighter", 1, 9800, 99.2),
              ("s2_batchnorm", 2, 8200, 99.35), ("s2_capacity", 2, 7604, 99.42),
              ("s3_onecycle", 3, 7604, 99.45), ("s3_final", 3, 7604, 99.5),
              ("s3_lean", 3, 5300, 99.44)]
    records = {
        model_id: [fake_record(model_id, step, seed, params=params, ceiling=ceiling)
                   for seed in ((0, 1, 2) if model_id.startswith("s3_") else (0,))]
        for model_id, step, params, ceiling in models
    }
    records["s3_final"].append(failed_record("s3_final", seed=3))
    return records, {model_id: step for model_id, step, _, _ in models}


def check_file(path: Path) -> None:
    assert path.exists() and path.stat().st_size > 0, path
    payload = path.read_bytes()
    if path.suffix == ".svg":
        root = ET.fromstring(payload)
        assert root.tag.endswith("svg"), path
    elif path.suffix == ".png":
        assert payload.startswith(PNG_SIGNATURE), path
    else:
        pytest.fail(f"unexpected file type {path}")


def snapshot(paths: dict[str, Path]) -> dict[str, bytes]:
    return {key: path.read_bytes() for key, path in paths.items()}


def test_plots_module_does_not_import_torch():
    import subprocess

    code = "import sys, mnist_course.plots; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_model_figures_are_valid_and_byte_identical_on_rerun(tmp_path):
    from mnist_course.plots import model_figures

    records = [fake_record(seed=0), failed_record(seed=1), fake_record(seed=2)]
    first = model_figures(records, tmp_path)
    assert set(first) == {"curves", "lr", "misclassified", "confusion"}
    assert first["misclassified"].suffix == ".png"
    assert first["curves"].suffix == first["lr"].suffix == ".svg"
    for path in first.values():
        check_file(path)
    before = snapshot(first)
    second = model_figures(records, tmp_path)
    assert second == first
    assert snapshot(second) == before


def test_model_figures_skip_what_is_missing(tmp_path):
    from mnist_course.plots import model_figures

    assert model_figures([failed_record(seed=0)], tmp_path) == {}
    assert model_figures([], tmp_path) == {}
    record = fake_record(epochs=1)
    del record["evaluation"]
    record["lr_trace"] = []  # falls back to the per-epoch learning rates
    figures = model_figures([record], tmp_path)
    assert set(figures) == {"curves", "lr"}
    for path in figures.values():
        check_file(path)


def test_course_figures_are_valid_and_byte_identical_on_rerun(tmp_path):
    from mnist_course.plots import course_figures

    records, steps = course_records()
    first = course_figures(records, steps, "s3_final", tmp_path)
    assert set(first) == {"params_vs_accuracy", "test_accuracy_all", "final_seeds"}
    for path in first.values():
        assert path.suffix == ".svg"
        check_file(path)
    before = snapshot(first)
    assert snapshot(course_figures(records, steps, "s3_final", tmp_path)) == before


def test_course_figures_survive_failed_and_missing_models(tmp_path):
    from mnist_course.plots import course_figures

    records = {"s1_skeleton": [fake_record("s1_skeleton", 1, params=19000, ceiling=99.2)],
               "s3_final": [failed_record("s3_final", seed=0)]}
    figures = course_figures(records, {"s1_skeleton": 1, "s3_final": 3}, "s3_final", tmp_path)
    assert set(figures) == {"params_vs_accuracy", "test_accuracy_all"}
    assert course_figures({}, {}, "s3_final", tmp_path / "empty") == {}


def test_step_palette_covers_every_course_step():
    from mnist_course.models import STEPS
    from mnist_course.plots import STEP_COLOURS

    assert set(STEP_COLOURS) == set(STEPS)
    assert len(set(STEP_COLOURS.values())) == len(STEP_COLOURS)
