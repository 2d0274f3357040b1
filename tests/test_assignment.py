"""The assignment's terms: the window, which runs count, seeds, statistics, time."""

import statistics

import pytest
from conftest import fake_record

from mnist_course.assignment import (
    ACCURACY_BAR,
    LAST_EPOCHS,
    busy_seeds,
    counts,
    last_accuracies,
    last_epoch_numbers,
    main_record,
    mean_difference,
    mean_over_seeds,
    median_seconds,
    meets_all,
    meets_bar,
    missing_seeds,
    range_over_seeds,
    sd_over_seeds,
    seeds_of,
    shared_seeds,
)

GOOD = [98.0 + 0.1 * k for k in range(10)] + [99.41, 99.45, 99.50, 99.43, 99.47]


def _timed(seed: int, seconds: float, tests=GOOD) -> dict:
    record = fake_record(seed=seed, tests=tests)
    record["provenance"] = {"training_seconds": seconds}
    return record


def test_the_window_is_the_runs_own_last_epochs():
    assert last_accuracies(fake_record(tests=GOOD)) == GOOD[-LAST_EPOCHS:]
    ten = fake_record(tests=GOOD[:10], epochs=10)
    assert last_epoch_numbers(ten) == [6, 7, 8, 9, 10]  # not 11 to 15


def test_the_bar_holds_each_of_the_last_epochs():
    assert meets_bar(fake_record(tests=GOOD)) and meets_all(fake_record(tests=GOOD))
    dipped = [*GOOD[:-1], ACCURACY_BAR - 0.01]
    assert not meets_bar(fake_record(tests=dipped))
    assert not meets_bar(fake_record(tests=GOOD, quick_check=True))
    assert not meets_all(fake_record(tests=GOOD, params=8000))


def test_which_runs_count():
    record = fake_record(tests=GOOD)
    assert counts(record, record["model_id"]) and not counts(record, "another")
    assert not counts(record, preview=True)
    assert counts(fake_record(tests=GOOD, quick_check=True), preview=True)
    assert not counts({**record, "status": "failed"}) and not counts(None)


def test_seeds_and_the_main_record():
    assert seeds_of(5) == (0, 1, 2, 3, 4)
    runs = [fake_record(seed=s, tests=GOOD) for s in (3, 1)]
    assert main_record(runs)["seed"] == 1
    assert main_record([*runs, fake_record(seed=0, tests=GOOD)])["seed"] == 0
    assert missing_seeds(seeds_of(5), runs) == [0, 2, 4]
    assert main_record([]) is None


def test_statistics_over_seeds_are_unrounded():
    runs = [fake_record(seed=0, tests=[*GOOD[:10], 99.41, 99.42, 99.43, 99.44, 99.45]),
            fake_record(seed=1, tests=[*GOOD[:10], 99.51, 99.52, 99.53, 99.54, 99.56])]
    means = [99.43, 99.532]
    assert mean_over_seeds(runs) == pytest.approx(statistics.fmean(means), abs=1e-12)
    assert sd_over_seeds(runs) == pytest.approx(statistics.stdev(means), abs=1e-12)
    assert range_over_seeds(runs) == pytest.approx(0.102, abs=1e-12)
    assert sd_over_seeds(runs[:1]) == 0.0


def test_a_difference_is_taken_on_shared_seeds_from_unrounded_means():
    high = [fake_record(seed=s, tests=[*GOOD[:10], *[99.446] * 5]) for s in (0, 1, 2, 3)]
    low = [fake_record(seed=s, tests=[*GOOD[:10], *[99.414] * 5]) for s in (0, 1, 2)]
    difference, seeds = mean_difference(high, low)
    assert seeds == [0, 1, 2] == shared_seeds(high, low)
    assert difference == pytest.approx(0.032)  # prints 0.03; the rounded means give 0.04
    with pytest.raises(ValueError, match="no seed"):
        mean_difference(high[3:], low)


def test_time_is_the_median_of_the_quiet_seeds():
    runs = [_timed(0, 320.0), _timed(1, 272.0), _timed(2, 300.0), _timed(3, 1899.0)]
    assert busy_seeds(runs) == [3]
    assert median_seconds(runs) == 300.0
    assert busy_seeds(runs[:1]) == []
    assert median_seconds([{**runs[0], "provenance": {}}]) is None  # no time recorded
