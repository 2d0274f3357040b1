"""What the results store holds for each course model, read from JSON only (no torch).

A run is *current* when its stored cache key matches the key of the model's code and
recipe today; the builder retrains runs that are not, and the pages say so when it was
told not to (``--no-train``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..course import Course, CourseModel
from ..errors import ResultsError
from ..recipe import Recipe, cache_key
from ..results import load_metrics, metrics_path, read_json
from ..summary import RunSummary, SeedsSummary, summarize, summarize_seeds

CURRENT, MISSING, STALE, QUICK, FAILED, INVALID = (
    "current", "missing", "stale", "quick check", "failed", "invalid")


@dataclass(frozen=True)
class RunState:
    seed: int
    state: str  # one of the constants above
    detail: str = ""  # why, in words, when not current


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


def expected_key(model: CourseModel, seed: int, preview: Preview | None = None) -> str:
    recipe = preview.recipe(model.recipe) if preview else model.recipe
    return cache_key(model.architecture_json(), recipe, seed,
                     preview.train_subset if preview else None)


def run_state(results_dir: Path, model: CourseModel, seed: int,
              preview: Preview | None = None) -> RunState:
    """Whether the stored run of ``model`` and ``seed`` can be reused as it is (for a
    preview: whether it is that preview's quick run)."""
    path = metrics_path(results_dir, model.id, seed)
    if not path.exists():
        return RunState(seed, MISSING, "not trained yet")
    try:
        record = load_metrics(path)
    except ResultsError as exc:
        return RunState(seed, INVALID, str(exc))
    if record["status"] != "complete":
        return RunState(seed, FAILED, str(record.get("failure") or "the run failed"))
    if record["quick_check"] and preview is None:
        return RunState(seed, QUICK, "a quick check, not a full course run")
    if record["cache_key"] != expected_key(model, seed, preview):
        return RunState(seed, STALE,
                        "the model, its recipe or the training engine changed since this run")
    return RunState(seed, CURRENT)


@dataclass
class ModelResults:
    """One course model and every usable run of it."""

    model: CourseModel
    records: list[dict] = field(default_factory=list)  # complete full runs, by seed
    states: list[RunState] = field(default_factory=list)  # every expected seed
    architecture: dict | None = None

    @property
    def trained(self) -> bool:
        return bool(self.records)

    @property
    def main_record(self) -> dict | None:
        """Seed 0 when present (the seed every single-seed model uses), else the lowest."""
        by_seed = {r["seed"]: r for r in self.records}
        return by_seed.get(0) or (self.records[0] if self.records else None)

    @property
    def summary(self) -> RunSummary | None:
        record = self.main_record
        return summarize(record) if record else None

    @property
    def seeds_summary(self) -> SeedsSummary | None:
        return summarize_seeds(self.records) if self.records else None

    @property
    def stale_seeds(self) -> list[int]:
        return [s.seed for s in self.states if s.state == STALE]

    @property
    def missing_seeds(self) -> list[int]:
        return [s.seed for s in self.states if s.state not in (CURRENT, STALE)]


def usable_record(results_dir: Path, model: CourseModel, seed: int,
                  preview: Preview | None = None) -> dict | None:
    """The run to show: complete and full, or a quick check in a preview (a stale one is
    shown, marked as stale)."""
    path = metrics_path(results_dir, model.id, seed)
    try:
        record = load_metrics(path)
    except ResultsError:
        return None
    if (record["status"] != "complete" or record["model_id"] != model.id
            or bool(record["quick_check"]) != (preview is not None)):
        return None
    return record


def load_architecture(results_dir: Path, model_id: str) -> dict | None:
    path = Path(results_dir) / model_id / "architecture.json"
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except ResultsError:
        return None
    return data if isinstance(data, dict) else None


def load_model(results_dir: Path, model: CourseModel, seeds: tuple[int, ...],
               preview: Preview | None = None) -> ModelResults:
    states = [run_state(results_dir, model, seed, preview) for seed in seeds]
    records = [r for seed in seeds if (r := usable_record(results_dir, model, seed, preview))]
    return ModelResults(model, records, states, load_architecture(results_dir, model.id))


def seeds_for(model: CourseModel, override: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The seeds a model trains: its own, or ``override`` for the multi-seed models."""
    if override and len(model.seeds) > 1:
        return tuple(override)
    return model.seeds


def load_results(course: Course, results_dir: Path, seeds: tuple[int, ...] | None = None,
                 preview: Preview | None = None) -> list[ModelResults]:
    """Every model of ``course`` with its stored runs."""
    return [load_model(Path(results_dir), model, seeds_for(model, seeds), preview)
            for model in course]
