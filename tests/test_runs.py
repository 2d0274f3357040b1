"""A run's one home (mnist_course.store.runs): identity, state, plan, read once; build options."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import fake_record

from mnist_course.errors import UsageError
from mnist_course.models import COURSE, get_model
from mnist_course.pipeline.options import BuildOptions, parse_seeds
from mnist_course.report.model_results import load_results
from mnist_course.store import runs
from mnist_course.store.files import load_metrics, metrics_path, write_json

REPO = Path(__file__).resolve().parent.parent


def test_every_committed_full_run_carries_the_key_its_model_gives_today():
    checked = 0
    for model in COURSE:
        for path in sorted((REPO / "results" / model.id).glob("seed-*/metrics.json")):
            record = load_metrics(path)
            if record["status"] == "complete" and not record["quick_check"]:
                current = record["cache_key"] == runs.run_key(model, record["seed"])
                assert current == (runs.RunStore(REPO / "results").state(
                    model, record["seed"]).status == runs.CURRENT)
                checked += current
    assert checked >= 58  # the build's "58 reused"


def test_each_state_says_why(tmp_path):
    model = get_model("s1_skeleton")
    key = runs.run_key(model, 0)
    store = runs.RunStore(tmp_path)
    assert store.state(model, 0) == runs.RunState(0, runs.MISSING, "not trained yet")
    cases = {
        runs.CURRENT: fake_record(model.id, cache_key=key),
        runs.STALE: fake_record(model.id, cache_key="another"),
        runs.QUICK: fake_record(model.id, cache_key=key, quick_check=True),
        runs.FAILED: fake_record(model.id, cache_key=key, status="failed", failure="diverged"),
    }
    for state, record in cases.items():
        assert runs.judge(model, 0, record).status == state
    assert runs.judge(model, 0, cases[runs.FAILED]).detail == "diverged"
    assert runs.judge(model, 0, None, "bad JSON").status == runs.INVALID
    preview = runs.Preview(epochs=1, train_subset=500)
    quick = fake_record(model.id, cache_key=runs.run_key(model, 0, preview), quick_check=True)
    assert runs.judge(model, 0, quick, preview=preview).status == runs.CURRENT
    assert runs.is_shown(model, quick, preview) and not runs.is_shown(model, quick)


def test_a_build_reads_each_run_once_and_sees_what_it_trained(tmp_path, monkeypatch):
    model = get_model("s1_skeleton")
    write_json(metrics_path(tmp_path, model.id, 0),
               fake_record(model.id, cache_key=runs.run_key(model, 0)))
    reads = []
    original = runs.load_metrics
    monkeypatch.setattr(runs, "load_metrics", lambda path: reads.append(path) or original(path))
    store = runs.RunStore(tmp_path)
    plans = runs.plan_seeds(store, model, (0, 1))
    assert [(p.seed, p.run.status, p.train) for p in plans] == [
        (0, runs.CURRENT, False), (1, runs.MISSING, True)]
    assert [p.train for p in runs.plan_seeds(store, model, (0, 1), no_train=True)] == [0, 0]
    assert [p.train for p in runs.plan_seeds(store, model, (0,), retrain=True)] == [True]
    store.remember(model.id, 1, fake_record(model.id, seed=1,
                                            cache_key=runs.run_key(model, 1)))
    results = load_results(COURSE, tmp_path, store=store)
    skeleton = next(r for r in results if r.model.id == model.id)
    assert [r["seed"] for r in skeleton.records] == [0, 1]
    assert reads == [metrics_path(tmp_path, model.id, 0)]  # read once, never again


def test_seeds_on_several_environments_are_named_each():
    model = get_model("s1_skeleton")

    def on(seed, device_name, torch_version):
        return fake_record(model.id, seed=seed, provenance={
            "device": "cpu", "device_name": device_name, "threads": 1, "torch": torch_version,
            "training_seconds": 1.0})

    from mnist_course.report.model_results import ModelResults

    same = ModelResults(model, [on(0, "AMD EPYC", "2.14.1"), on(1, "AMD EPYC", "2.14.1")])
    assert not same.environments_differ
    mixed = ModelResults(model, [on(0, "AMD EPYC", "2.14.1"), on(1, "Intel Xeon", "2.14.1")])
    assert mixed.environments_differ
    assert mixed.seed_environments == [
        {"seed": 0, "environment": "cpu, AMD EPYC, vector capability not recorded, 1 thread, "
                                       "torch 2.14.1"},
        {"seed": 1, "environment": "cpu, Intel Xeon, vector capability not recorded, 1 thread, "
                                       "torch 2.14.1"}]


def test_build_options_check_themselves_in_one_line():
    options = BuildOptions(only=["s3_final"], seeds=(2, 0, 2), epochs=1)
    assert options.only == ("s3_final",) and options.seeds == (0, 2)
    assert options.preview == runs.Preview(1, None)
    assert BuildOptions(no_train=True).notebook_skip == "--no-train"
    assert BuildOptions(no_notebook=True).notebook_skip == "--no-notebook"
    for bad, message in [({"no_train": True, "retrain": True}, "contradict"),
                         ({"jobs": 0}, "--jobs must be"), ({"seeds": "0,1"}, "seeds must"),
                         ({"device": "tpu"}, "unknown device"), ({"only": "s3_final"}, "only")]:
        with pytest.raises(UsageError, match=message):
            BuildOptions(**bad)
    assert parse_seeds("2, 0 1") == (0, 1, 2)
    with pytest.raises(ValueError, match="seeds"):
        parse_seeds("-1")


def test_every_training_job_gets_one_thread_however_many_run(tmp_path):
    from mnist_course.pipeline.jobs import THREADS_PER_JOB, train_command
    from mnist_course.pipeline.options import BuildPaths

    for jobs in (1, 4):
        command = train_command(get_model("s1_skeleton"), 2, BuildOptions(jobs=jobs),
                                BuildPaths(tmp_path / "results", tmp_path / "docs"))
        assert command[command.index("--threads") + 1] == str(THREADS_PER_JOB) == "1"
        assert command[command.index("--seed") + 1] == "2"


def test_the_environment_names_the_capability_or_says_it_is_not_recorded():
    from mnist_course.store.runs import compute_capability, run_environment

    old = {"device": "cpu", "device_name": "AMD EPYC", "threads": 1, "torch": "2.14.1"}
    assert compute_capability(old) == "vector capability not recorded"
    assert run_environment({"provenance": {**old, "cpu_capability": "AVX2"}}) == (
        "cpu, AMD EPYC, vector capability AVX2, 1 thread, torch 2.14.1")
    cuda = {"device": "cuda", "cuda_capability": "9.0", "cuda": "13.0", "cudnn": 91000}
    assert compute_capability(cuda) == "compute capability 9.0, CUDA 13.0, cuDNN 91000"
