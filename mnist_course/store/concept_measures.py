"""What the Concepts pages measure at build time, where it is kept, and when it is stale.

Two things on those pages need torch and MNIST, so the torch-free report layer cannot
make them; :mod:`mnist_course.pipeline.measure_concepts` does, called by
``scripts/build_report.py``:

* ``results/concepts.json``: the final model's test accuracy with batch norm's running
  statistics against recalibrated ones, measured from its stored weights;
* ``docs/figures/concepts/augmentation.png``: real training digits before and after the
  course's augmentation, with ``inputs.json`` beside it saying what it was drawn from.

Each carries a key of its inputs (the weights files, the recipe, the measuring code), so
it is measured again exactly when one of them changes. This module only reads files and
hashes them: the report layer uses it to tell a current measurement from a stale one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.recipe import recipe_identity
from mnist_course.errors import ResultsError
from mnist_course.store.files import read_json, weights_path

CONCEPTS_FILE = "concepts.json"
CONCEPTS_FORMAT = 1
# The code that measures: editing it makes every measurement stale.
MEASURE_SOURCE = Path(__file__).resolve().parent.parent / "pipeline" / "measure_concepts.py"
FIGURES_FOLDER = "figures/concepts"  # inside docs/
FIGURE_MANIFEST = f"{FIGURES_FOLDER}/inputs.json"
AUGMENTATION_FIGURE = f"{FIGURES_FOLDER}/augmentation.png"


def concepts_path(results_dir: Path) -> Path:
    return Path(results_dir) / CONCEPTS_FILE


def _digest(*inputs: object) -> hashlib._Hash:
    digest = hashlib.sha256(MEASURE_SOURCE.read_bytes())
    digest.update(json.dumps(inputs, sort_keys=True).encode("utf-8"))
    return digest


def stored_seeds(results_dir: Path, model: CourseModel) -> list[int]:
    """The seeds of ``model`` whose weights are stored."""
    return [seed for seed in model.seeds if weights_path(results_dir, model.id, seed).exists()]


def check_model(results_dir: Path, course: Course, model: CourseModel) -> CourseModel | None:
    """The nearest model before ``model`` (following ``previous``) that tests with the
    running averages, so its stored weights keep the averages its own training left, and
    whose seed 0 is stored: the ground truth the rebuilt averages are checked against."""
    current = model
    while current.previous:
        current = course.get(current.previous)
        uses_batch_norm = any(getattr(layer, "batch_norm", False)
                              for layer in current.architecture or ())
        if (uses_batch_norm and not current.recipe.bn_recalibration
                and weights_path(results_dir, current.id, 0).exists()):
            return current
    return None


def recalibration_key(results_dir: Path, course: Course, model: CourseModel) -> str | None:
    """A hash of the stored weights of every seed (and of the check model's seed 0), the
    recipes and the measuring code; None when no weights of ``model`` are stored."""
    seeds = stored_seeds(results_dir, model)
    if not seeds:
        return None
    check = check_model(results_dir, course, model)
    digest = _digest(model.id, seeds, recipe_identity(model.recipe), check and check.id,
                     check and recipe_identity(check.recipe))
    paths = [weights_path(results_dir, model.id, seed) for seed in seeds]
    for path in paths + ([weights_path(results_dir, check.id, 0)] if check else []):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def figure_key(rotation: float, seed: int, columns: int, rows: int) -> str:
    """What the augmentation figure is drawn from (MNIST itself is checked on load)."""
    return _digest(rotation, seed, columns, rows).hexdigest()[:16]


def load_concepts(results_dir: Path) -> dict | None:
    """``results/concepts.json`` as a dict, or None when it is missing or unreadable."""
    try:
        data = read_json(concepts_path(results_dir))
    except ResultsError:  # missing or unreadable: the next build with MNIST measures again
        return None
    return data if isinstance(data, dict) and data.get("format") == CONCEPTS_FORMAT else None


def load_figure_manifest(docs_dir: Path) -> dict:
    """``docs/figures/concepts/inputs.json``: per figure, its key, file and parameters."""
    path = Path(docs_dir) / FIGURE_MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


__all__ = ["AUGMENTATION_FIGURE", "CONCEPTS_FILE", "CONCEPTS_FORMAT", "FIGURE_MANIFEST",
           "check_model", "concepts_path", "figure_key", "load_concepts", "load_figure_manifest",
           "recalibration_key", "stored_seeds"]
