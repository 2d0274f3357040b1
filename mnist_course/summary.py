"""Figures derived from measured runs, and the assignment's requirement checks.

Pure functions over ``metrics.json`` records (dicts): no torch, so the report layer,
the Analysis templates and students' own code can all call them. Every figure the site
prints comes from here or straight from the JSON.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Any

# The assignment: fewer than 8,000 parameters, at most 15 epochs, at least 99.40 % test
# accuracy in each of the last 5 epochs (consistently, not once), no fully connected layer.
PARAM_BUDGET = 8000  # parameters; a model must have fewer
MAX_EPOCHS = 15
ACCURACY_BAR = 99.40  # percent
LAST_EPOCHS = 5  # "consistently" means every one of the last this-many epochs
# A train-minus-test gap above this many points at the end reads as over-fitting.
OVERFIT_GAP = 0.25
# Accuracy changes smaller than this many points are within run-to-run noise (on 10,000
# test images one point is 100 images; seeds differ by a few hundredths of a point).
NEGLIGIBLE_CHANGE = 0.1

BUDGET = {"params": PARAM_BUDGET, "epochs": MAX_EPOCHS, "accuracy": ACCURACY_BAR,
          "last_epochs": LAST_EPOCHS, "negligible": NEGLIGIBLE_CHANGE}


@dataclass(frozen=True)
class RunSummary:
    """The figures a teacher quotes about one run (accuracies in percent)."""

    model_id: str
    seed: int
    params: int
    epochs: int  # epochs trained
    first_test: float  # test accuracy after epoch 1
    best_test: float
    best_epoch: int
    final_test: float
    final_train: float
    gap: float  # final train minus final test accuracy, in points
    last5_min: float
    last5_max: float
    last5_mean: float
    first_bar_epoch: int | None  # first epoch at or above the bar, None if never
    consistent: bool  # every one of the last 5 epochs at or above the bar
    overfitting: bool  # gap above OVERFIT_GAP
    classifier_params: int  # parameters of the last convolution (the classifier)
    training_seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _classifier_params(record: dict) -> int:
    """Parameters of the last convolution, from the stored architecture and channel flow."""
    layers = record.get("architecture") or []
    channels, last = 1, 0
    for layer in layers:
        if layer.get("type") == "Conv":
            k, out = layer["kernel"], layer["out_channels"]
            bias = 0 if layer.get("batch_norm") else out
            inputs_per_output = 1 if layer.get("depthwise") else channels
            last = inputs_per_output * out * k * k + bias
            channels = out
    return last


def summarize(record: dict) -> RunSummary:
    """Summarise one complete run. ``record`` is a validated metrics.json."""
    epochs = record["epochs"]
    if not epochs:
        raise ValueError(f"{record.get('model_id')} seed {record.get('seed')} has no epochs")
    tests = [e["test_accuracy"] for e in epochs]
    last = tests[-LAST_EPOCHS:]
    best = max(range(len(tests)), key=lambda i: (tests[i], -i))
    reached = [e["epoch"] for e in epochs if e["test_accuracy"] >= ACCURACY_BAR]
    final_train = epochs[-1]["train_accuracy"]
    gap = round(final_train - tests[-1], 4)
    return RunSummary(
        model_id=record["model_id"],
        seed=record["seed"],
        params=record["params"],
        epochs=len(epochs),
        first_test=tests[0],
        best_test=tests[best],
        best_epoch=epochs[best]["epoch"],
        final_test=tests[-1],
        final_train=final_train,
        gap=gap,
        last5_min=min(last),
        last5_max=max(last),
        last5_mean=round(statistics.fmean(last), 4),
        first_bar_epoch=reached[0] if reached else None,
        consistent=len(last) == LAST_EPOCHS and min(last) >= ACCURACY_BAR,
        overfitting=gap > OVERFIT_GAP,
        classifier_params=_classifier_params(record),
        training_seconds=record.get("provenance", {}).get("training_seconds", 0.0),
    )


@dataclass(frozen=True)
class Requirement:
    name: str  # what is required, in words
    measured: str  # the measured value, formatted
    passed: bool


def check_requirements(record: dict) -> list[Requirement]:
    """The assignment's four requirements for one run, each with its measured value."""
    epochs = record["epochs"]
    last = [e["test_accuracy"] for e in epochs[-LAST_EPOCHS:]]
    lowest = min(last) if last else float("nan")
    full = not record.get("quick_check") and record.get("status") == "complete"
    return [
        Requirement(f"fewer than {PARAM_BUDGET:,} parameters", f"{record['params']:,}",
                    record["params"] < PARAM_BUDGET),
        Requirement(f"at most {MAX_EPOCHS} epochs", str(len(epochs)),
                    0 < len(epochs) <= MAX_EPOCHS),
        Requirement(f"test accuracy ≥ {ACCURACY_BAR:.2f} % in each of the last {LAST_EPOCHS} "
                    "epochs", f"lowest {lowest:.2f} %" if last else "no epochs",
                    full and len(last) == LAST_EPOCHS and lowest >= ACCURACY_BAR),
        Requirement("no fully connected layer",
                    "none" if not record.get("has_linear") else "has nn.Linear",
                    record.get("has_linear") is False),
    ]


def run_passes(record: dict) -> bool:
    return all(r.passed for r in check_requirements(record))


@dataclass(frozen=True)
class SeedsSummary:
    """A model across its seeds: the figures the final-model pages quote."""

    count: int
    seeds: list[int]
    worst_last5: float  # the lowest test accuracy of any seed's last 5 epochs
    mean_last5: float  # mean over seeds of each seed's last-5 mean
    sd_last5: float  # sample standard deviation of those means (0 for one seed)
    widest_spread_last5: float  # largest (max - min) of one seed's last 5 test accuracies
    all_pass: bool
    failing: list[str]  # "seed N" for each seed that misses a requirement
    requirements: list[dict]  # per requirement: name, passed on all seeds, worst measured


def summarize_seeds(records: list[dict]) -> SeedsSummary:
    """Summarise every seed of one model (records: validated, complete metrics.json)."""
    if not records:
        raise ValueError("no runs to summarise")
    runs = sorted(records, key=lambda r: r["seed"])
    summaries = [summarize(r) for r in runs]
    means = [s.last5_mean for s in summaries]
    checks = [check_requirements(r) for r in runs]
    requirements = []
    for index, first in enumerate(checks[0]):
        per_seed = [c[index] for c in checks]
        requirements.append({
            "name": first.name,
            "passed": all(c.passed for c in per_seed),
            "per_seed": [{"seed": r["seed"], "measured": c.measured, "passed": c.passed}
                         for r, c in zip(runs, per_seed, strict=True)],
        })
    return SeedsSummary(
        count=len(runs),
        seeds=[r["seed"] for r in runs],
        worst_last5=min(s.last5_min for s in summaries),
        mean_last5=round(statistics.fmean(means), 4),
        sd_last5=round(statistics.stdev(means), 4) if len(means) > 1 else 0.0,
        widest_spread_last5=round(max(s.last5_max - s.last5_min for s in summaries), 4),
        all_pass=all(all(c.passed for c in check) for check in checks),
        failing=[f"seed {r['seed']}" for r, check in zip(runs, checks, strict=True)
                 if not all(c.passed for c in check)],
        requirements=requirements,
    )
