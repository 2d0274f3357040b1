"""Figures derived from measured runs, and the assignment's requirement checks.

Pure functions over ``metrics.json`` records (dicts): no torch, so the report layer,
the Analysis templates and students' own code can all call them. Every figure the site
prints comes from here or straight from the JSON.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from mnist_course.assignment import (
    ACCURACY_BAR,
    LAST_EPOCHS,
    MAX_EPOCHS,
    PARAM_BUDGET,
    is_full_run,
    last_accuracies,
    lowest_last,
    lowest_over_seeds,
    mean_difference,
    mean_last,
    mean_over_seeds,
    range_over_seeds,
    sd_over_seeds,
    shared_seeds,
)
from mnist_course.models.blocks import conv_parameters
from mnist_course.sourced import epoch_value, sourced, stat

# A train-minus-test gap above this many points at the end reads as over-fitting.
OVERFIT_GAP = 0.25

# A passing model whose lowest last-5 epoch is within this many points of the bar (five
# test images) passes with almost no margin: another seed could well miss.
THIN_MARGIN = 0.05

BUDGET = {"params": PARAM_BUDGET, "epochs": MAX_EPOCHS, "accuracy": ACCURACY_BAR,
          "last_epochs": LAST_EPOCHS,
          "overfit_gap": OVERFIT_GAP, "thin_margin": THIN_MARGIN}


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


def _classifier_params(record: dict) -> int:
    """Parameters of the last convolution, from the stored architecture and channel flow."""
    layers = record.get("architecture") or []
    channels, last = 1, 0
    for layer in layers:
        if layer.get("type") == "Conv":
            last = conv_parameters(layer["kernel"], channels, layer["out_channels"],
                                   bool(layer.get("depthwise")), bool(layer.get("batch_norm")))
            channels = layer["out_channels"]
    return last


def summarize(record: dict) -> RunSummary:
    """Summarise one complete run. ``record`` is a validated metrics.json. Every figure
    carries its source (:mod:`mnist_course.sourced`)."""
    epochs = record["epochs"]
    if not epochs:
        raise ValueError(f"{record.get('model_id')} seed {record.get('seed')} has no epochs")
    tests = [e["test_accuracy"] for e in epochs]
    last = last_accuracies(record)
    best = max(range(len(tests)), key=lambda i: (tests[i], -i))
    reached = [e["epoch"] for e in epochs if e["test_accuracy"] >= ACCURACY_BAR]
    final_train = epoch_value(record, epochs[-1], "train_accuracy")
    gap = round(epochs[-1]["train_accuracy"] - tests[-1], 4)
    own = (record["model_id"], record["seed"])
    return RunSummary(
        model_id=record["model_id"],
        seed=record["seed"],
        params=sourced(record["params"], ("record", *own, "params")),
        epochs=len(epochs),
        first_test=epoch_value(record, epochs[0], "test_accuracy"),
        best_test=stat(tests[best], "best_test", [record]),
        best_epoch=epochs[best]["epoch"],
        final_test=epoch_value(record, epochs[-1], "test_accuracy"),
        final_train=final_train,
        gap=stat(gap, "gap", [record]),
        last5_min=lowest_last(record),
        last5_max=max(last),
        last5_mean=mean_last(record),
        first_bar_epoch=reached[0] if reached else None,
        consistent=len(last) == LAST_EPOCHS and min(last) >= ACCURACY_BAR,
        overfitting=gap > OVERFIT_GAP,
        classifier_params=sourced(_classifier_params(record),
                                  ("record", *own, "classifier_params")),
        training_seconds=sourced(record.get("provenance", {}).get("training_seconds", 0.0),
                                 ("record", *own, "provenance.training_seconds")),
    )


@dataclass(frozen=True)
class Requirement:
    name: str  # what is required, in words
    measured: str  # the measured value, formatted
    passed: bool
    worse: float = 0.0  # orders seeds from best to worst on this requirement (higher: worse)


def check_requirements(record: dict) -> list[Requirement]:
    """The assignment's four requirements for one run, each with its measured value."""
    epochs = record["epochs"]
    last = last_accuracies(record)
    lowest = lowest_last(record) if last else float("nan")
    full = is_full_run(record)
    return [
        Requirement(f"fewer than {PARAM_BUDGET:,} parameters", f"{record['params']:,}",
                    record["params"] < PARAM_BUDGET, record["params"]),
        Requirement(f"at most {MAX_EPOCHS} epochs", str(len(epochs)),
                    0 < len(epochs) <= MAX_EPOCHS, len(epochs)),
        Requirement(f"test accuracy ≥ {ACCURACY_BAR:.2f} % in each of the last {LAST_EPOCHS} "
                    "epochs", f"lowest {lowest:.2f} %" if last else "no epochs",
                    full and len(last) == LAST_EPOCHS and lowest >= ACCURACY_BAR,
                    -lowest if last else float("inf")),
        Requirement("no fully connected layer",
                    "none" if not record.get("has_linear") else "has nn.Linear",
                    record.get("has_linear") is False, float(bool(record.get("has_linear")))),
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
    passing: list[str] = field(default_factory=list)  # "seed N" for each seed that passes
    # Range (max - min) of the seeds' last-5 means: how far two runs of the same model and
    # recipe land apart by chance alone, the yardstick for "within run-to-run noise".
    range_last5_means: float = 0.0
    # Means over seeds of per-run figures, so no summary quotes one seed as if it were all.
    first_test_mean: float = 0.0  # test accuracy after epoch 1
    final_train_mean: float = 0.0
    final_test_mean: float = 0.0
    gap_mean: float = 0.0  # final train minus final test, in points
    spread_last5_mean: float = 0.0  # mean over seeds of (max - min) of the last 5 epochs
    first_bar_epochs: list[int | None] = field(default_factory=list)  # per seed, None: never
    # The runs themselves, so that a comparison takes its difference from their unrounded
    # means on the seeds two models share.
    runs: tuple[dict, ...] = field(default=(), repr=False, compare=False)


def summarize_seeds(records: list[dict]) -> SeedsSummary:
    """Summarise every seed of one model (records: validated, complete metrics.json)."""
    if not records:
        raise ValueError("no runs to summarise")
    runs = sorted(records, key=lambda r: r["seed"])
    summaries = [summarize(r) for r in runs]
    # Unrounded: every across-seed figure is rounded once, where a page prints it (a mean of
    # means rounded to 4 places first can print 0.022 where the runs give 0.023).
    checks = [check_requirements(r) for r in runs]
    requirements = []
    for index, first in enumerate(checks[0]):
        per_seed = [{"seed": r["seed"], "measured": c.measured, "passed": c.passed,
                     "worse": c.worse} for r, c in zip(runs, [c[index] for c in checks],
                                                        strict=True)]
        requirements.append({
            "name": first.name,
            "passed": all(entry["passed"] for entry in per_seed),
            "per_seed": per_seed,
            # The seed that does worst on it (a failing one first): what "worst" quotes.
            "worst": max(per_seed, key=lambda e: (not e["passed"], e["worse"])),
        })
    return SeedsSummary(
        count=len(runs),
        seeds=[r["seed"] for r in runs],
        worst_last5=lowest_over_seeds(runs),
        mean_last5=mean_over_seeds(runs),
        sd_last5=sd_over_seeds(runs),
        widest_spread_last5=stat(round(max(s.last5_max - s.last5_min for s in summaries), 4),
                                 "widest_spread", runs),
        all_pass=all(all(c.passed for c in check) for check in checks),
        failing=[f"seed {r['seed']}" for r, check in zip(runs, checks, strict=True)
                 if not all(c.passed for c in check)],
        requirements=requirements,
        passing=[f"seed {r['seed']}" for r, check in zip(runs, checks, strict=True)
                 if all(c.passed for c in check)],
        range_last5_means=range_over_seeds(runs),
        first_test_mean=stat(_mean(s.first_test for s in summaries), "first_test_mean", runs),
        final_train_mean=stat(_mean(s.final_train for s in summaries), "final_train_mean",
                              runs),
        final_test_mean=stat(_mean(s.final_test for s in summaries), "final_test_mean", runs),
        gap_mean=stat(_mean(s.gap for s in summaries), "gap_mean", runs),
        spread_last5_mean=stat(_mean(s.last5_max - s.last5_min for s in summaries),
                               "spread_mean", runs),
        first_bar_epochs=[s.first_bar_epoch for s in summaries],
        runs=tuple(runs),
    )


def _mean(values) -> float:
    return statistics.fmean(values)


@dataclass(frozen=True)
class Comparison:
    """Two models' mean last-5 test accuracy over their shared seeds, set against the noise.

    ``difference`` is taken between the unrounded means and rounded once, where it is
    printed: a difference of rounded means can be off by a rounding step (0.04 where the
    runs give 0.031).
    """

    difference: float  # current minus previous, in points, from the unrounded means
    noise: float  # the larger of the two models' ranges of seed means, in points
    within_noise: bool  # |difference| is no larger than the noise
    seeds: int  # seeds of the model with fewer, which limits the evidence
    # Whose seeds the noise is the spread of, in words ("the previous model's seeds"): the
    # noise is one model's range, and the prose says which.
    noise_of: str = "one model's seeds"

    @property
    def noise_known(self) -> bool:
        """One seed per model says nothing about how far runs land apart by chance."""
        return self.seeds > 1

    @property
    def higher(self) -> bool:
        """A rise larger than the noise (never claimed from one seed)."""
        return self.noise_known and self.difference > 0 and not self.within_noise

    @property
    def lower(self) -> bool:
        """A fall larger than the noise (never claimed from one seed)."""
        return self.noise_known and self.difference < 0 and not self.within_noise


def compare_seeds(current: SeedsSummary, previous: SeedsSummary,
                  names: tuple[str, str] = ("this model", "the previous model")
                  ) -> Comparison:
    """Whether ``current`` beats ``previous`` by more than their seeds differ by chance;
    ``names`` name the two models in the words that say whose seeds the noise is."""
    if shared_seeds(current.runs, previous.runs):
        difference, _ = mean_difference(current.runs, previous.runs)
    else:  # no seed in common, or summaries made by hand: their means as given
        difference = current.mean_last5 - previous.mean_last5
    wider, name = max((current, names[0]), (previous, names[1]),
                      key=lambda pair: pair[0].range_last5_means)
    noise = wider.range_last5_means
    listed = ", ".join(str(seed) for seed in wider.seeds)
    return Comparison(difference=difference, noise=noise,
                      within_noise=min(current.count, previous.count) > 1
                      and abs(difference) <= noise,
                      seeds=min(current.count, previous.count),
                      noise_of=f"{name}'s seeds {listed}")
