import pytest
from conftest import fake_record

from mnist_course.assignment import ACCURACY_BAR
from mnist_course.summary import check_requirements, compare_seeds, summarize, summarize_seeds

PASSING = [98.0, 98.8, 99.1, 99.2, 99.3, 99.35, 99.38, 99.41, 99.3, 99.4, 99.42, 99.45, 99.41,
           99.5, 99.44]


def test_summarize_figures():
    s = summarize(fake_record(tests=PASSING))
    assert s.best_test == 99.5 and s.best_epoch == 14
    assert s.last5_min == 99.41 and s.last5_max == 99.5
    assert s.last5_mean == pytest.approx(sum(PASSING[-5:]) / 5, abs=1e-12)  # unrounded
    assert s.first_bar_epoch == 8  # 99.41 at epoch 8 is the first at or above the bar
    assert s.consistent and s.first_test == 98.0 and s.epochs == 15
    assert s.gap == -0.2  # fake records put train 0.2 below test


def test_one_good_epoch_is_not_consistent():
    tests = PASSING[:-5] + [99.3, 99.6, 99.3, 99.35, 99.39]
    s = summarize(fake_record(tests=tests))
    assert s.best_test == 99.6 and not s.consistent
    checks = check_requirements(fake_record(tests=tests))
    accuracy = checks[2]
    assert not accuracy.passed and accuracy.measured == "lowest 99.30 %"


def test_requirements_each_with_measured_value():
    checks = check_requirements(fake_record(tests=PASSING))
    assert [c.passed for c in checks] == [True, True, True, True]
    too_big = check_requirements(fake_record(tests=PASSING, params=8000))
    assert not too_big[0].passed and too_big[0].measured == "8,000"
    too_long = check_requirements(fake_record(tests=PASSING + [99.5], epochs=16))
    assert not too_long[1].passed
    linear = check_requirements(fake_record(tests=PASSING, has_linear=True))
    assert not linear[3].passed


def test_quick_check_runs_never_pass():
    checks = check_requirements(fake_record(tests=PASSING, quick_check=True))
    assert not checks[2].passed


def test_seeds_summary_names_failing_seeds():
    bad = PASSING[:-1] + [ACCURACY_BAR - 0.01]
    runs = [fake_record(seed=0, tests=PASSING), fake_record(seed=1, tests=bad)]
    seeds = summarize_seeds(runs)
    assert seeds.count == 2 and not seeds.all_pass and seeds.failing == ["seed 1"]
    assert seeds.worst_last5 == ACCURACY_BAR - 0.01
    assert seeds.sd_last5 > 0
    last5 = PASSING[-5:]
    assert seeds.widest_spread_last5 == pytest.approx(max(last5) - (ACCURACY_BAR - 0.01))
    assert seeds.requirements[2]["passed"] is False
    assert [p["passed"] for p in seeds.requirements[2]["per_seed"]] == [True, False]


def _seeds_with_means(means: list[float]):
    """Runs whose last five epochs all equal the given per-seed means."""
    runs = []
    for seed, mean in enumerate(means):
        epochs = [{"epoch": e, "train_loss": 0.1, "train_accuracy": 99.0, "test_loss": 0.02,
                   "test_accuracy": 99.0 if e <= 10 else mean, "lr": 0.01, "seconds": 1.0}
                  for e in range(1, 16)]
        runs.append({"model_id": "m", "seed": seed, "params": 5000, "has_linear": False,
                     "status": "complete", "quick_check": False, "epochs": epochs,
                     "architecture": []})
    return summarize_seeds(runs)


def test_a_difference_no_larger_than_the_seeds_spread_is_noise():
    before = _seeds_with_means([99.40, 99.45, 99.47])  # seeds 0.07 points apart
    after = _seeds_with_means([99.45, 99.47, 99.48])
    comparison = compare_seeds(after, before)
    assert comparison.noise == pytest.approx(0.07) and comparison.within_noise
    assert not comparison.higher and not comparison.lower
    clear = compare_seeds(_seeds_with_means([99.60, 99.61, 99.62]), before)
    assert clear.higher and not clear.within_noise


def test_differences_come_from_the_unrounded_means():
    # 99.4449 prints as 99.44 and 99.4351 as 99.44, yet the runs differ by 0.0098 points: the
    # difference is the runs', rounded once where it is printed (+0.01), never 0.00
    comparison = compare_seeds(_seeds_with_means([99.4449] * 3), _seeds_with_means([99.4351] * 3))
    assert comparison.difference == pytest.approx(0.0098)
    # means 99.446 and 99.414 print as 99.45 and 99.41, four hundredths apart; the runs
    # differ by 0.032, which prints as 0.03
    comparison = compare_seeds(_seeds_with_means([99.446] * 3), _seeds_with_means([99.414] * 3))
    assert f"{comparison.difference:.2f}" == "0.03"


def test_one_seed_cannot_tell_noise_apart():
    comparison = compare_seeds(_seeds_with_means([99.5]), _seeds_with_means([99.4]))
    assert not comparison.noise_known and not comparison.within_noise


def test_the_worst_seed_of_each_requirement_is_the_one_quoted():
    from mnist_course.summary import summarize_seeds

    good = [99.5] * 15
    records = [fake_record(seed=0, tests=good), fake_record(seed=1, tests=[*good[:14], 99.42]),
               fake_record(seed=2, tests=[*good[:14], 99.44])]
    accuracy = summarize_seeds(records).requirements[2]
    assert accuracy["passed"] and accuracy["worst"]["seed"] == 1
    assert accuracy["worst"]["measured"] == "lowest 99.42 %"
    records[2] = fake_record(seed=2, tests=[*good[:14], 99.30])
    records.append(fake_record(seed=3, tests=[*good[:14], 99.10]))
    accuracy = summarize_seeds(records).requirements[2]
    # a failing seed first, and the worst of the failing ones
    assert not accuracy["passed"] and accuracy["worst"]["seed"] == 3
    assert len(summarize_seeds(records).failing) == 2
