"""Fabricated, schema-valid results for every course model, for the report tests.

The numbers are plausible (accuracy climbing towards a plateau per model, the final and
lean models above the bar on every seed) and deterministic, so two renders of the same
fixtures must give byte-identical pages.
"""

from __future__ import annotations

import base64
import importlib.util
import math
import shutil
import sys
from pathlib import Path

from mnist_course.course.recipe import cache_key
from mnist_course.models import COURSE, CourseModel
from mnist_course.models.blocks import Conv
from mnist_course.store.files import SCHEMA_VERSION, metrics_path, write_json
from mnist_course.store.sweep_runs import sweep_results_dir

TEST_COUNT = 10_000
# Where each model's test accuracy settles, in percent (step by step towards the bar).
PLATEAU = {"s1_skeleton": 99.12, "s1_lighter": 99.02, "s1_lightest": 98.94,
           "s2_batchnorm": 99.28, "s2_dropout": 99.31, "s2_gap": 99.22, "s2_capacity": 99.36,
           "s3_augment": 99.39, "s3_onecycle": 99.44, "s3_no_dropout": 99.47,
           "s3_weight_decay": 99.5, "s3_final": 99.52, "s3_lean": 99.46}
DEFAULT_PLATEAU = 99.45  # a model added to the course after these fixtures were written


def count_params(model: CourseModel) -> int:
    """Trainable parameters of a spec, without torch: weights, bias or BN scale and shift."""
    channels, total = 1, 0
    for layer in model.architecture:
        if isinstance(layer, Conv):
            inputs = 1 if layer.depthwise else channels  # a depthwise kernel sees one channel
            total += inputs * layer.out_channels * layer.kernel ** 2
            total += 2 * layer.out_channels if layer.batch_norm else layer.out_channels
            channels = layer.out_channels
    return total


def test_curve(plateau: float, seed: int, epochs: int = 15) -> list[float]:
    """Accuracy rising from about 97 % to ``plateau`` with a small seeded wobble."""
    curve = []
    for epoch in range(1, epochs + 1):
        rise = plateau - (plateau - 97.0) * math.exp(-(epoch - 1) / 2.0)
        wobble = 0.03 * math.sin(1.7 * epoch + 0.9 * seed)
        curve.append(round(rise + wobble, 2))
    return curve


def digit_image(label: int) -> str:
    """A 28x28 uint8 image (a filled square whose size depends on the digit), base64."""
    size = 6 + label
    start = (28 - size) // 2
    pixels = bytes(255 if start <= r < start + size and start <= c < start + size else 0
                   for r in range(28) for c in range(28))
    return base64.b64encode(pixels).decode("ascii")


def evaluation(final_accuracy: float) -> dict:
    """A confusion matrix with exactly the final accuracy, and a few misclassified digits."""
    wrong = round(TEST_COUNT * (100 - final_accuracy) / 100)
    matrix = [[0] * 10 for _ in range(10)]
    for digit in range(10):
        matrix[digit][digit] = TEST_COUNT // 10
    for k in range(wrong):  # the classic confusions: 4 as 9, 7 as 2, 3 as 5, ...
        label, predicted = [(4, 9), (7, 2), (3, 5), (9, 4), (5, 3), (2, 7)][k % 6]
        matrix[label][label] -= 1
        matrix[label][predicted] += 1
    misclassified = [{"index": 100 + k, "label": label, "predicted": predicted,
                      "confidence": round(0.99 - 0.05 * k, 4), "pixels": digit_image(label)}
                     for k, (label, predicted) in enumerate([(4, 9), (7, 2), (3, 5), (9, 4)])]
    return {"test_count": TEST_COUNT, "confusion_matrix": matrix, "misclassified": misclassified}


def fixture_record(model: CourseModel, seed: int, params: int | None = None) -> dict:
    """A plausible complete run of ``model``; ``params`` for a ``build=`` model, whose count
    needs its network (the course's own models are counted from their spec)."""
    tests = test_curve(PLATEAU.get(model.id, DEFAULT_PLATEAU), seed, model.recipe.epochs)
    epochs = [{"epoch": i + 1, "train_loss": round(0.3 / (i + 1), 6),
               "train_accuracy": round(t + (0.3 if model.step == 1 else -0.1), 4),
               "test_loss": round(0.02 + 0.2 / (i + 1), 6), "test_accuracy": t,
               "lr": 0.01, "seconds": 20.0 + seed}
              for i, t in enumerate(tests)]
    training_seconds = round(sum(e["seconds"] for e in epochs), 2)
    return {
        "schema_version": SCHEMA_VERSION, "model_id": model.id, "step": model.step,
        "title": model.title, "seed": seed,
        "params": count_params(model) if params is None else params, "has_linear": False,
        "architecture": model.architecture_json(), "recipe": model.recipe.to_dict(),
        "quick_check": False, "train_subset": None,
        "cache_key": cache_key(model.architecture_json(), model.recipe, seed, None),
        "status": "complete", "failure": None, "epochs": epochs,
        "lr_trace": [[round(i / 8, 4), 0.01] for i in range(8 * len(epochs))],
        "evaluation": evaluation(tests[-1]),
        "provenance": {"package": "mnist_course 0.1.0", "python": "3.11.7", "torch": "2.5.1",
                       "torchvision": "0.20.1", "device": "cpu", "device_name": "Test CPU",
                       "threads": 1, "git_commit": "0123456789abcdef", "started_at":
                       "2025-01-01T00:00:00+00:00", "finished_at": "2025-01-01T00:05:00+00:00",
                       "training_seconds": training_seconds,
                       "wall_seconds": round(training_seconds + 3.0, 2)},
    }


def write_fixture_results(results_dir: Path, models: tuple[CourseModel, ...] = COURSE
                          ) -> dict[tuple[str, int], dict]:
    """Write a metrics.json for every seed of every model; return them by (id, seed)."""
    written = {}
    for model in models:
        for seed in model.seeds:
            record = fixture_record(model, seed)
            write_json(metrics_path(results_dir, model.id, seed), record)
            written[(model.id, seed)] = record
    return written


def write_sweep_runs(results: Path) -> None:
    """A candidate of each sweep with runs (one failing seed), so the sweep tables are full."""
    from conftest import fake_record

    for sweep in COURSE.sweeps:
        for seed, last in zip(sweep.seed_order[:2], (99.45, 99.38), strict=True):
            tests = [98.0 + 0.1 * i for i in range(10)] + [last + 0.01 * i for i in range(5)]
            write_json(metrics_path(sweep_results_dir(results), sweep.candidates[0].id, seed),
                       fake_record(sweep.candidates[0].id, seed, tests))


REPO = Path(__file__).resolve().parent.parent


def load_builder():
    """scripts/build_report.py as a module (it is a script, not part of the package)."""
    if "build_report" in sys.modules:
        return sys.modules["build_report"]
    spec = importlib.util.spec_from_file_location("build_report", REPO / "scripts" /
                                                  "build_report.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_report"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def copy_docs(target: Path) -> Path:
    """The repository's docs/ (hand-written pages, notebook, css) in a scratch folder."""
    shutil.copytree(REPO / "docs", target, ignore=shutil.ignore_patterns("figures"))
    return target


def copy_rendered_docs(site: dict, target: Path) -> Path:
    """The docs/ of the session's rendered fixture site (conftest's ``fixture_site``: pages,
    figures and the keys they were drawn from) in a scratch folder. A render there over
    other runs redraws only the figures whose runs differ, as a student's rebuild does."""
    shutil.copytree(site["docs"], target)
    return target


def copy_fixture_results(site: dict, target: Path) -> dict[tuple[str, int], dict]:
    """The runs of the session's rendered fixture site (conftest's ``fixture_site``: every
    model's seeds and the sweep candidates) in a scratch folder; returns its records by
    (id, seed), which a test must copy before changing one. Rendered over
    :func:`copy_rendered_docs`, only what a test changes is drawn again."""
    shutil.copytree(site["root"] / "results", target)
    return site["records"]


def render(results: Path, docs: Path, *extra: str) -> int:
    return load_builder().main(["--no-train", "--results-dir", str(results),
                                "--docs-dir", str(docs), *extra])
