"""The Concepts pages' build-time measurements (torch, MNIST, matplotlib).

``scripts/build_report.py`` calls :func:`refresh_concept_measures`; it measures only what
is stale by the keys of :mod:`mnist_course.store.concept_measures` and skips, with a reason, what
it cannot measure (no MNIST, no stored weights). The report layer renders the results.

Batch-norm recalibration: the final model's stored weights hold the statistics its last
test pass used, recomputed on training images (the recipe's ``bn_recalibration``). The
running averages training itself left behind are rebuilt by replaying the run's last
batches: the epoch plans (seeded shuffle and rotations) :func:`mnist_course.training.engine.fit`
trained on, passed through the trained weights with batch norm updating its averages as in
training. Only the statistics differ between the two test passes; the weights are the stored ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.recipe import Augmentation, Recipe
from mnist_course.store.concept_measures import (
    AUGMENTATION_FIGURE,
    CONCEPTS_FORMAT,
    FIGURE_MANIFEST,
    check_model,
    concepts_path,
    figure_key,
    load_concepts,
    load_figure_manifest,
    recalibration_key,
    stored_seeds,
)
from mnist_course.store.files import (
    atomic_write_bytes,
    dump_json,
    load_metrics,
    metrics_path,
    write_json,
)
from mnist_course.training.data import MNISTData, apply_affine, plan_epoch, random_affine
from mnist_course.training.engine import (
    RECALIBRATION_BATCH,
    evaluate,
    model_input,
    recalibrate_batch_norm,
)
from mnist_course.training.train_model import load_trained, provenance

# Batches of the last epoch replayed into the running averages. Each batch moves them by
# the momentum (0.1), so whatever they held 100 batches earlier weighs 0.9^100 < 0.003 %.
REPLAYED_BATCHES = 100
# The augmentation figure: one column per digit class, the original above its rotations.
FIGURE_SEED = 0
FIGURE_ROTATIONS = 3  # rows of rotated copies under each original


def last_training_batches(recipe: Recipe, data: MNISTData, seed: int, count: int
                          ) -> Iterator[torch.Tensor]:
    """The last ``count`` augmented training batches of a ``fit`` run with this recipe and
    seed: the same epoch plans :func:`mnist_course.training.engine.fit` trains on (one generator
    seeded with the run's seed draws every epoch's plan), the augmentation applied only to
    the batches kept."""
    generator = torch.Generator().manual_seed(seed)
    n_train = len(data.train_labels)
    steps = -(-n_train // recipe.batch_size)
    first_kept = recipe.epochs * steps - count
    step = 0
    for _epoch in range(recipe.epochs):
        plan = plan_epoch(n_train, recipe.batch_size, recipe.augmentation, generator,
                          data.device)
        for index, affine in plan:
            if step >= first_kept:
                yield apply_affine(data.train_images[index], affine)
            step += 1


@torch.no_grad()
def rebuild_running_statistics(model: nn.Module, batches: Iterator[torch.Tensor],
                               channels_last: bool) -> None:
    """Batch norm's running averages as training updates them (each batch moves them by
    the layer's momentum), from ``batches``; every other layer stays in eval mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.train()
    for images in batches:
        model(model_input(images, channels_last))
    model.eval()


def _stored_and_rebuilt(course_model: CourseModel, results_dir: Path, data: MNISTData,
                        seed: int) -> tuple[nn.Module, Callable[[], float], float, float]:
    """A stored run's model, its accuracy function, and its test accuracy with the stored
    statistics and then with the running averages rebuilt from its last batches."""
    model = load_trained(course_model, results_dir, seed)
    model.to(memory_format=torch.channels_last)  # as fit trains and tests on the CPU

    def accuracy() -> float:
        return round(evaluate(model, data.test_images, data.test_labels,
                              channels_last=True).accuracy, 4)

    stored = accuracy()
    rebuild_running_statistics(
        model, last_training_batches(course_model.recipe, data, seed, REPLAYED_BATCHES), True)
    return model, accuracy, stored, accuracy()


def measure_seed(course_model: CourseModel, results_dir: Path, data: MNISTData,
                 seed: int) -> dict:
    """Test accuracy of one stored run with running and with recalibrated statistics."""
    recipe = course_model.recipe
    model, accuracy, stored, running = _stored_and_rebuilt(course_model, results_dir, data,
                                                            seed)
    recalibrate_batch_norm(model, data.train_images[:recipe.bn_recalibration],
                           channels_last=True)
    recalibrated = accuracy()
    last_epoch = load_metrics(metrics_path(results_dir, course_model.id, seed))["epochs"][-1]
    return {"seed": seed, "running_accuracy": running, "recalibrated_accuracy": recalibrated,
            "stored_statistics_accuracy": stored,
            "recorded_last_epoch_accuracy": last_epoch["test_accuracy"]}


def measure_recalibration(course: Course, course_model: CourseModel, results_dir: Path,
                          data: MNISTData) -> dict:
    """``concepts.json``'s record for ``course_model``: every stored seed, with provenance."""
    started, clock = datetime.now(timezone.utc), time.perf_counter()
    momenta = {m.momentum for m in course_model.network().modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    seeds = [measure_seed(course_model, results_dir, data, seed)
             for seed in stored_seeds(results_dir, course_model)]
    check = check_model(results_dir, course, course_model)
    method_check = None
    if check is not None:  # its stored weights keep training's own averages: the truth
        _, _, stored, rebuilt = _stored_and_rebuilt(check, results_dir, data, 0)
        method_check = {"model_id": check.id, "seed": 0, "stored_running_accuracy": stored,
                        "rebuilt_running_accuracy": rebuilt}
    return {
        "format": CONCEPTS_FORMAT,
        "bn_recalibration": {
            "model_id": course_model.id,
            "key": recalibration_key(results_dir, course, course_model),
            "momentum": momenta.pop() if len(momenta) == 1 else None,
            "replayed_batches": REPLAYED_BATCHES,
            "batch_size": course_model.recipe.batch_size,
            "recalibration_images": course_model.recipe.bn_recalibration,
            "recalibration_batch": RECALIBRATION_BATCH,
            "test_count": len(data.test_labels),
            "seeds": seeds,
            "method_check": method_check,
            "provenance": {**provenance(torch.device("cpu")),
                           "finished_at": datetime.now(timezone.utc).isoformat(
                               timespec="seconds"),
                           "started_at": started.isoformat(timespec="seconds"),
                           "seconds": round(time.perf_counter() - clock, 1)},
        },
    }


def class_examples(data: MNISTData) -> torch.Tensor:
    """The first training image of each digit 0-9, (10, 1, 28, 28) in [0, 1]."""
    labels = data.train_labels.cpu()
    first = [int((labels == digit).nonzero()[0]) for digit in range(10)]
    return data.train_images[torch.tensor(first, device=data.device)].cpu()


def draw_augmentation_figure(data: MNISTData, augmentation: Augmentation, path: Path,
                             seed: int = FIGURE_SEED, rotations: int = FIGURE_ROTATIONS
                             ) -> Path:
    """Real training digits (top row) and ``rotations`` augmented copies of each, drawn
    with ``random_affine`` and a generator seeded with ``seed``, in the course's figure
    style (:mod:`mnist_course.report.plots`)."""
    from mnist_course.report.plots import SMALL_TEXT, in_style, new_figure, save_figure

    originals = class_examples(data)
    generator = torch.Generator().manual_seed(seed)
    rows = [originals] + [random_affine(originals, augmentation, generator)
                          for _ in range(rotations)]

    @in_style
    def draw():
        figure, axes = new_figure(0.75 * len(rows) + 0.5, rows=len(rows),
                                   cols=len(originals))
        for r, images in enumerate(rows):
            for c, image in enumerate(images):
                ax = axes[r][c]
                ax.imshow(image[0].numpy(), cmap="gray_r", vmin=0, vmax=1,
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
                for spine in ax.spines.values():  # the digit's own black edge frames it
                    spine.set_visible(False)
            axes[r][0].set_ylabel("original" if r == 0 else f"draw {r}", fontsize=SMALL_TEXT)
        figure.suptitle(f"Training digits before and after random_affine "
                        f"({augmentation.describe()}, seed {seed})")
        return figure

    return save_figure(draw(), path)


def _refresh_recalibration(course: Course, results_dir: Path, data_dir: str | None) -> str:
    course_model = course.get(course.final)
    key = recalibration_key(results_dir, course, course_model)
    if key is None:
        return f"batch-norm recalibration: no stored weights of {course_model.id}; not measured"
    stored = load_concepts(results_dir)
    if stored and stored.get("bn_recalibration", {}).get("key") == key:
        return "batch-norm recalibration: current"
    data = _load_data(data_dir)
    if data is None:
        return "batch-norm recalibration: MNIST is not on this machine; not measured"
    write_json(concepts_path(results_dir), measure_recalibration(course, course_model,
                                                                 results_dir, data))
    return "batch-norm recalibration: measured"


def _refresh_figure(course: Course, docs_dir: Path, data_dir: str | None) -> str:
    augmentation = course.get(course.final).recipe.augmentation
    key = figure_key(augmentation.rotation, FIGURE_SEED, 10, FIGURE_ROTATIONS)
    manifest = load_figure_manifest(docs_dir)
    known = manifest.get("augmentation", {})
    target = Path(docs_dir) / AUGMENTATION_FIGURE
    if known.get("key") == key and target.exists():
        return "augmentation figure: current"
    data = _load_data(data_dir)
    if data is None:
        return "augmentation figure: MNIST is not on this machine; not drawn"
    draw_augmentation_figure(data, augmentation, target)
    manifest["augmentation"] = {"key": key, "file": AUGMENTATION_FIGURE,
                                "augmentation": augmentation.describe(), "seed": FIGURE_SEED,
                                "rotations": FIGURE_ROTATIONS}
    atomic_write_bytes(Path(docs_dir) / FIGURE_MANIFEST, dump_json(manifest).encode("utf-8"))
    return "augmentation figure: drawn"


_DATA: dict[str | None, MNISTData | None] = {}


def _load_data(data_dir: str | None) -> MNISTData | None:
    """MNIST on the CPU, loaded once per build; None when it is not on this machine."""
    from mnist_course.training.data import load_mnist
    from mnist_course.training.mnist_files import RAW_FILES, resolve_data_dir

    if data_dir not in _DATA:
        raw = resolve_data_dir(data_dir) / "MNIST" / "raw"
        present = all((raw / name).exists() for name in RAW_FILES)
        _DATA[data_dir] = load_mnist(data_dir, download=False) if present else None
    return _DATA[data_dir]


def refresh_concept_measures(course: Course, results_dir: Path, docs_dir: Path,
                             data_dir: str | None) -> list[str]:
    """Measure and draw what the Concepts pages need and is stale; one line per item.

    Runs on one thread, as the course's runs trained (``build_report.py`` gives each run
    one): the same order of floating-point sums, and small convolutions gain little from
    a second thread anyway."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [_refresh_recalibration(course, Path(results_dir), data_dir),
                _refresh_figure(course, Path(docs_dir), data_dir)]
    finally:
        torch.set_num_threads(threads)
        _DATA.clear()


__all__ = ["draw_augmentation_figure", "last_training_batches", "measure_recalibration",
           "rebuild_running_statistics", "refresh_concept_measures"]
