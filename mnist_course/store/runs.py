"""A run's one home: what identifies it, whether its stored record is current, and which
seeds a build needs. Torch-free (JSON only), so the builder, the report layer and
``mnist-course train`` ask the same questions the same way, with or without torch.

A run is identified by its model's layers (or the source of a ``build=`` model), its
recipe, its seed, its training subset and the engine version: :func:`run_key`, the
:func:`mnist_course.course.recipe.cache_key` of those. A stored run is *current* when it finished,
is a full run (or, in a quick preview, that preview's quick run) and its key is that key.
:class:`RunStore` reads each ``metrics.json`` at most once per build.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from mnist_course.assignment import counts
from mnist_course.course.recipe import Recipe, cache_key
from mnist_course.errors import ResultsError
from mnist_course.store.files import load_metrics, metrics_path, read_json

CURRENT, MISSING, STALE, QUICK, FAILED, INVALID = (
    "current", "missing", "stale", "quick check", "failed", "invalid")

# Bump when the content of architecture.json changes shape, so older files count as stale.
ARCHITECTURE_FORMAT = 1


@dataclass(frozen=True)
class Preview:
    """A quick preview of a whole course: fewer epochs and/or a training subset. Its runs
    are quick checks; the pages and the write-up say so."""

    epochs: int | None = None
    train_subset: int | None = None

    def recipe(self, recipe: Recipe) -> Recipe:
        return recipe.with_epochs(self.epochs) if self.epochs else recipe

    def describe(self) -> str:
        parts = ([f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"] if self.epochs
                 else []) + ([f"{self.train_subset:,} training images"]
                             if self.train_subset else [])
        return " on ".join(parts) if parts else "the full recipe"


@dataclass(frozen=True)
class RunState:
    seed: int
    status: str  # one of the constants above
    detail: str = ""  # why, in words, when not current


def run_recipe(model, preview: Preview | None = None) -> Recipe:
    """The recipe a run of ``model`` trains with (a preview's epochs replace the model's)."""
    return preview.recipe(model.recipe) if preview else model.recipe


def run_key(model, seed: int, preview: Preview | None = None) -> str:
    """The identity of one run of ``model``: the cache key its record and checkpoint carry."""
    return cache_key(model.architecture_json(), run_recipe(model, preview), seed,
                     preview.train_subset if preview else None)


def seeds_for(model, override: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The seeds a model trains: its own, or ``override`` for the multi-seed models."""
    if override and len(model.seeds) > 1:
        return tuple(override)
    return model.seeds


def judge(model, seed: int, record: dict | None, error: str = "",
          preview: Preview | None = None) -> RunState:
    """Whether a stored record (``None`` with ``error`` when unreadable, ``None`` alone when
    absent) can be reused as it is for ``model`` and ``seed``."""
    if record is None:
        return RunState(seed, INVALID, error) if error else RunState(seed, MISSING,
                                                                      "not trained yet")
    if record["status"] != "complete":
        return RunState(seed, FAILED, str(record.get("failure") or "the run failed"))
    if record["quick_check"] and preview is None:
        return RunState(seed, QUICK, "a quick check, not a full course run")
    if record["cache_key"] != run_key(model, seed, preview):
        return RunState(seed, STALE,
                        "the model, its recipe or the training engine changed since this run")
    return RunState(seed, CURRENT)


def is_shown(model, record: dict | None, preview: Preview | None = None) -> bool:
    """Whether the pages show this record: complete and full, or a quick check in a preview
    (a stale one is shown, marked as stale)."""
    return counts(record, model.id, preview is not None)


class RunStore:
    """The stored runs of one results folder, each ``metrics.json`` read at most once.

    A run trained during the build is handed over with :meth:`remember`, so the pages see
    the record the training wrote without reading it again.
    """

    def __init__(self, results_dir: Path, preview: Preview | None = None) -> None:
        self.results_dir = Path(results_dir)
        self.preview = preview
        self._read: dict[tuple[str, int], tuple[dict | None, str]] = {}

    def record(self, model_id: str, seed: int) -> tuple[dict | None, str]:
        """``(record, "")``, ``(None, why)`` when unreadable, or ``(None, "")`` when absent."""
        key = (model_id, seed)
        if key not in self._read:
            path = metrics_path(self.results_dir, model_id, seed)
            if not path.exists():
                self._read[key] = (None, "")
            else:
                try:
                    self._read[key] = (load_metrics(path), "")
                except ResultsError as exc:
                    self._read[key] = (None, str(exc))
        return self._read[key]

    def remember(self, model_id: str, seed: int, record: dict) -> None:
        self._read[(model_id, seed)] = (record, "")

    def forget(self, model_id: str, seed: int) -> None:
        """Read this run again next time (a training that failed may have written it)."""
        self._read.pop((model_id, seed), None)

    def state(self, model, seed: int) -> RunState:
        record, error = self.record(model.id, seed)
        return judge(model, seed, record, error, self.preview)

    def shown(self, model, seed: int) -> dict | None:
        record, _ = self.record(model.id, seed)
        return record if is_shown(model, record, self.preview) else None

    def training_seconds(self, model_id: str, seed: int) -> float:
        """How long the stored run took to train; infinity when unknown (never trained)."""
        record, _ = self.record(model_id, seed)
        try:
            return float(record["provenance"]["training_seconds"])  # type: ignore[index]
        except (KeyError, TypeError, ValueError):
            return float("inf")


@dataclass(frozen=True)
class SeedPlan:
    """What a build does with one seed of one model."""

    seed: int
    run: RunState
    train: bool


def plan_seeds(store: RunStore, model, seeds: tuple[int, ...], retrain: bool = False,
               no_train: bool = False) -> list[SeedPlan]:
    """For each seed: its stored state and whether this build trains it (everything not
    current, or everything with ``retrain``; nothing with ``no_train``)."""
    plans = []
    for seed in seeds:
        run = store.state(model, seed)
        train = not no_train and (retrain or run.status != CURRENT)
        plans.append(SeedPlan(seed, run, train))
    return plans


# -- where a run trained: runs on the same environment reproduce each other bit for bit --


NOT_RECORDED = "not recorded"


def compute_capability(provenance: dict) -> str:
    """The instruction set (CPU) or compute capability and libraries (CUDA) a run computed
    with, in words; "not recorded" for runs stored before it was recorded (never a guess
    from the device's name: one name covers machines that compute differently)."""
    if provenance.get("device") == "cuda":
        if not provenance.get("cuda_capability"):
            return f"compute capability {NOT_RECORDED}"
        return (f"compute capability {provenance['cuda_capability']}, CUDA "
                f"{provenance.get('cuda', '?')}, cuDNN {provenance.get('cudnn', '?')}")
    capability = provenance.get("cpu_capability")
    return f"vector capability {capability or NOT_RECORDED}"


def run_environment(record: dict) -> str:
    """What decides whether two runs of one seed give the same bits, in words: the device
    kind and name, what it computed with, the CPU thread count and the torch version of
    ``record``'s provenance."""
    p = record.get("provenance") or {}
    threads = p.get("threads")
    # No parentheses around the name: it is the machine's text (it may hold its own).
    return (f"{p.get('device', '?')}, {p.get('device_name', '?')}, {compute_capability(p)}, "
            f"{threads} thread{'' if threads == 1 else 's'}, torch {p.get('torch', '?')}")


# -- architecture.json: the layer summary, current while the layer spec is unchanged -----


def architecture_key(course_model) -> str:
    """A short hash of the model's layer spec: it changes exactly when the layers do."""
    spec = json.dumps(course_model.architecture_json(), sort_keys=True)
    return hashlib.sha256(spec.encode("utf-8")).hexdigest()[:16]


def architecture_path(results_dir: Path, model_id: str) -> Path:
    return Path(results_dir) / model_id / "architecture.json"


def architecture_is_current(course_model, results_dir: Path) -> bool:
    """True when architecture.json exists, is readable and matches the model's layers."""
    try:
        record = read_json(architecture_path(results_dir, course_model.id))
    except ResultsError:
        return False
    return (isinstance(record, dict) and record.get("model_id") == course_model.id
            and record.get("architecture_key") == architecture_key(course_model)
            and record.get("format") == ARCHITECTURE_FORMAT)


__all__ = ["ARCHITECTURE_FORMAT", "CURRENT", "FAILED", "INVALID", "MISSING", "NOT_RECORDED",
           "QUICK", "STALE", "Preview", "RunState", "RunStore", "SeedPlan",
           "architecture_is_current", "architecture_key", "architecture_path",
           "compute_capability", "is_shown", "judge", "plan_seeds", "run_environment",
           "run_key", "run_recipe", "seeds_for"]
