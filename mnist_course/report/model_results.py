"""What the results store holds for each course model, read from JSON only (no torch).

Whether a run is current is decided in :mod:`mnist_course.store.runs`; this module gathers,
per model, the runs the pages show and the state of every expected seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mnist_course.assignment import main_record
from mnist_course.course.definition import Course, CourseModel
from mnist_course.errors import ResultsError
from mnist_course.sourced import sourced_json
from mnist_course.store.files import read_json
from mnist_course.store.runs import (
    CURRENT,
    STALE,
    Preview,
    RunState,
    RunStore,
    architecture_path,
    run_environment,
    seeds_for,
)
from mnist_course.summary import RunSummary, SeedsSummary, compare_seeds, summarize, summarize_seeds


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
        return main_record(self.records)

    @property
    def summary(self) -> RunSummary | None:
        record = self.main_record
        return summarize(record) if record else None

    @property
    def seeds_summary(self) -> SeedsSummary | None:
        return summarize_seeds(self.records) if self.records else None

    @property
    def seed_environments(self) -> list[dict]:
        """Each shown seed with the environment it trained on (:func:`run_environment`)."""
        return [{"seed": r["seed"], "environment": run_environment(r)} for r in self.records]

    @property
    def environments_differ(self) -> bool:
        """True when the seeds trained on more than one device, thread count or torch: they
        then agree statistically, not bit for bit."""
        return len({e["environment"] for e in self.seed_environments}) > 1

    @property
    def stale_seeds(self) -> list[int]:
        return [s.seed for s in self.states if s.status == STALE]

    @property
    def missing_seeds(self) -> list[int]:
        return [s.seed for s in self.states if s.status not in (CURRENT, STALE)]


def comparison_context(results: ModelResults, previous: ModelResults | None
                       ) -> dict[str, Any]:
    """``compare`` (see :func:`compare_seeds`) and the two seed summaries it was drawn from,
    over the seeds both models ran: a model on five seeds is weighed against one on three
    on those three, never on seeds only one of them saw."""
    if previous is None or not previous.trained:
        return {"compare": None, "compare_current": None, "compare_previous": None}
    shared = {r["seed"] for r in results.records} & {r["seed"] for r in previous.records}
    current = summarize_seeds([r for r in results.records if r["seed"] in shared]
                              or results.records)
    before = summarize_seeds([r for r in previous.records if r["seed"] in shared]
                             or previous.records)
    return {"compare": compare_seeds(current, before), "compare_current": current,
            "compare_previous": before}


def load_architecture(results_dir: Path, model_id: str) -> dict | None:
    """A model's ``architecture.json``, every number carrying its place in the file."""
    path = architecture_path(results_dir, model_id)
    if not path.exists():
        return None
    try:
        data = read_json(path)
    except ResultsError:
        return None
    return sourced_json(data, f"{model_id}/{path.name}") if isinstance(data, dict) else None


# What a run's numbers on the pages need no source for: traces and settings no page prints
# as a figure (the recipe is read back into a Recipe, which checks its own types).
_UNSOURCED_FIELDS = frozenset({"lr_trace", "misclassified", "recipe", "architecture"})


def sourced_record(record: dict) -> dict:
    """A stored run whose every number carries its place in its ``metrics.json``."""
    file = f"{record['model_id']}/seed-{record['seed']}/metrics.json"
    return sourced_json(record, file, skip=_UNSOURCED_FIELDS)


def load_model(store: RunStore, model: CourseModel, seeds: tuple[int, ...]) -> ModelResults:
    states = [store.state(model, seed) for seed in seeds]
    records = [sourced_record(r) for seed in seeds if (r := store.shown(model, seed))]
    return ModelResults(model, records, states, load_architecture(store.results_dir, model.id))


def load_results(course: Course, results_dir: Path, seeds: tuple[int, ...] | None = None,
                 preview: Preview | None = None, store: RunStore | None = None
                 ) -> list[ModelResults]:
    """Every model of ``course`` with its stored runs (read through ``store`` when the
    build already read them)."""
    store = store or RunStore(Path(results_dir), preview)
    return [load_model(store, model, seeds_for(model, seeds)) for model in course]


__all__ = ["ModelResults", "Preview", "RunState", "comparison_context", "load_architecture",
           "load_model", "load_results"]
