"""The assignment's terms, decided once: the bar, the budget, the epoch limit, the
last-epoch window, which runs count, the seeds a model is judged on, and the statistics
every page, summary, sweep, plot and write-up quotes.

Torch-free and pure: functions of ``metrics.json`` records (dicts). Nothing else in the
package slices "the last five epochs" or rounds before it subtracts: every statistic here
is computed from the stored, unrounded values and is rounded once, where it is printed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence

from mnist_course.sourced import constant, epoch_value, stat

# The assignment: fewer than 8,000 parameters, at most 15 epochs, at least 99.40 % test
# accuracy in each of the last 5 epochs (consistently, not once), no fully connected layer.
# Each carries its name as its source, so a page that prints one says which term it is.
PARAM_BUDGET = constant(8000, "PARAM_BUDGET")  # parameters; a model must have fewer
MAX_EPOCHS = constant(15, "MAX_EPOCHS")
ACCURACY_BAR = constant(99.40, "ACCURACY_BAR")  # percent
LAST_EPOCHS = constant(5, "LAST_EPOCHS")  # "consistently": every one of the last this-many

# A seed whose training took more than this many times its model's fastest seed was
# measured while the machine was busy with other work: its time is flagged, not used. (The
# fastest seed is the best witness of a quiet machine: the same training on the same
# machine takes the same time, give or take a few percent.)
BUSY_FACTOR = 1.5


# ----------------------------------------------------------------------------------------
# One run


def last_window(epochs: Sequence) -> list:
    """The last epochs, where the bar is decided (fewer when the run is shorter)."""
    return list(epochs[-LAST_EPOCHS:])


def last_epoch_numbers(record: dict) -> list[int]:
    """The numbers of the epochs in a run's last window, as the run itself counts them
    (a course trained for 10 epochs: 6 to 10)."""
    return [epoch["epoch"] for epoch in last_window(record["epochs"])]


def last_accuracies(record: dict) -> list[float]:
    """Test accuracy in each of the last epochs of one run, unrounded, each with its
    epoch as its source."""
    return [epoch_value(record, epoch, "test_accuracy")
            for epoch in last_window(record["epochs"])]


def lowest_last(record: dict) -> float:
    return stat(float(min(last_accuracies(record))), "seed_lowest", [record])


def mean_last(record: dict) -> float:
    return stat(statistics.fmean(last_accuracies(record)), "seed_mean", [record])


def is_full_run(record: dict) -> bool:
    """A complete run with every epoch of its recipe, not a quick check."""
    return record.get("status") == "complete" and not record.get("quick_check")


def counts(record: object, model_id: str | None = None, preview: bool = False) -> bool:
    """Whether a stored record is a run the pages count: complete, with epochs, of this
    model, and a quick preview exactly when the pages show previews."""
    return (isinstance(record, dict) and record.get("status") == "complete"
            and bool(record.get("epochs"))
            and (model_id is None or record.get("model_id") == model_id)
            and bool(record.get("quick_check")) == preview)


def meets_bar(record: dict) -> bool:
    """The accuracy requirement of one run: a full run whose every one of the last
    :data:`LAST_EPOCHS` epochs is at or above :data:`ACCURACY_BAR`."""
    last = last_accuracies(record)
    return is_full_run(record) and len(last) == LAST_EPOCHS and min(last) >= ACCURACY_BAR


def meets_all(record: dict) -> bool:
    """Every requirement of the assignment on one run."""
    return (record["params"] < PARAM_BUDGET and 0 < len(record["epochs"]) <= MAX_EPOCHS
            and meets_bar(record) and record.get("has_linear") is False)


# ----------------------------------------------------------------------------------------
# A model's seeds


def seeds_of(count: int) -> tuple[int, ...]:
    """The seeds a model on ``count`` seeds runs: 0 to count - 1."""
    return tuple(range(count))


def missing_seeds(expected: Iterable[int], records: Iterable[dict]) -> list[int]:
    """The seeds a model is meant to run that have no counted run."""
    done = {record["seed"] for record in records}
    return [seed for seed in sorted(expected) if seed not in done]


def main_record(records: Sequence[dict]) -> dict | None:
    """The run a model's single-run figures quote: seed 0, else the lowest seed."""
    ordered = sorted(records, key=lambda record: record["seed"])
    return next((r for r in ordered if r["seed"] == 0), ordered[0] if ordered else None)


def shared_seeds(*groups: Sequence[dict]) -> list[int]:
    """The seeds every one of the groups of runs has."""
    seeds = [{record["seed"] for record in group} for group in groups]
    return sorted(set.intersection(*seeds)) if seeds else []


def on_seeds(records: Iterable[dict], seeds: Iterable[int]) -> list[dict]:
    wanted = set(seeds)
    return sorted((r for r in records if r["seed"] in wanted), key=lambda r: r["seed"])


def seed_means(records: Sequence[dict]) -> list[float]:
    return [mean_last(record) for record in records]


def mean_over_seeds(records: Sequence[dict]) -> float:
    """Mean over seeds of each seed's last-window mean, unrounded."""
    return stat(statistics.fmean(seed_means(records)), "mean", records)


def sd_over_seeds(records: Sequence[dict]) -> float:
    """Sample standard deviation of the seeds' last-window means (0 for one seed)."""
    means = seed_means(records)
    return stat(statistics.stdev(means) if len(means) > 1 else 0.0, "sd", records)


def range_over_seeds(records: Sequence[dict]) -> float:
    """How far the seeds' last-window means land apart: the run-to-run noise."""
    means = [float(mean) for mean in seed_means(records)]
    return stat(max(means) - min(means), "range", records)


def lowest_over_seeds(records: Sequence[dict]) -> float:
    return stat(float(min(lowest_last(record) for record in records)), "lowest", records)


def mean_difference(current: Sequence[dict], previous: Sequence[dict]) -> tuple[float, list[int]]:
    """How much higher ``current``'s mean is than ``previous``'s, in points, from the
    unrounded means on the seeds both ran, with those seeds. Rounded once, where printed:
    a difference of rounded means can be off by a rounding step."""
    seeds = shared_seeds(current, previous)
    if not seeds:
        raise ValueError("the two models share no seed")
    return (mean_over_seeds(on_seeds(current, seeds))
            - mean_over_seeds(on_seeds(previous, seeds)), seeds)


# ----------------------------------------------------------------------------------------
# Time


def training_seconds(record: dict) -> float | None:
    value = (record.get("provenance") or {}).get("training_seconds")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def busy_seeds(records: Sequence[dict]) -> list[int]:
    """Seeds whose training took more than :data:`BUSY_FACTOR` times the model's fastest
    seed: measured on a busy machine, so their time says nothing of the method."""
    times = {r["seed"]: t for r in records if (t := training_seconds(r)) is not None}
    if len(times) < 2:
        return []
    fastest = min(times.values())
    return sorted(seed for seed, time in times.items() if time > BUSY_FACTOR * fastest)


def median_seconds(records: Sequence[dict]) -> float | None:
    """The median training time over the seeds not measured on a busy machine."""
    busy = set(busy_seeds(records))
    times = [t for r in records if r["seed"] not in busy
             and (t := training_seconds(r)) is not None]
    return stat(statistics.median(times), "median_seconds", records) if times else None


__all__ = [
    "ACCURACY_BAR", "BUSY_FACTOR", "LAST_EPOCHS", "MAX_EPOCHS", "PARAM_BUDGET", "busy_seeds",
    "counts", "is_full_run", "last_accuracies", "last_epoch_numbers", "last_window",
    "lowest_last", "lowest_over_seeds", "main_record", "mean_difference", "mean_last",
    "mean_over_seeds", "median_seconds", "meets_all", "meets_bar", "missing_seeds",
    "on_seeds", "range_over_seeds", "sd_over_seeds", "seed_means", "seeds_of",
    "shared_seeds", "training_seconds",
]
