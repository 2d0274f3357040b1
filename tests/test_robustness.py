"""What students do to the tool: broken results, failed runs, two builds, kill -9."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from report_fixtures import copy_fixture_results, copy_rendered_docs, load_builder, render

from mnist_course.store.files import metrics_path, write_json


@pytest.mark.parametrize("damage", ["truncate", "not json", "schema", "missing field"])
def test_a_bad_metrics_file_is_named_and_never_rendered(tmp_path, capsys, fixture_site, damage):
    records = copy_fixture_results(fixture_site, tmp_path / "results")
    path = metrics_path(tmp_path / "results", "s2_gap", 0)
    text = path.read_text()
    path.write_text({
        "truncate": text[: len(text) // 3],
        "not json": "this is not json",
        "schema": text.replace('"schema_version": 1', '"schema_version": 7'),
        "missing field": json.dumps({k: v for k, v in records[("s2_gap", 0)].items()
                                     if k != "epochs"}),
    }[damage])
    docs = copy_rendered_docs(fixture_site, tmp_path / "docs")
    assert render(tmp_path / "results", docs) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("s2_gap"))
    assert "invalid" in line and str(path) in line  # the builder names the file
    page = html.unescape((docs / "step-2" / "s2_gap.md").read_text())
    assert "Result file unreadable" in page and str(path) in page
    result = page.split("## Analysis")[0].split("## Result")[1]
    assert "Seeds trained | 2 (1, 2)" in result  # the unreadable seed is left out
    assert not re.search(r"^\| 0 \|", result, re.MULTILINE)  # no row for it


def test_a_failed_run_is_shown_as_failed_and_the_rest_still_renders(tmp_path, fixture_site):
    records = copy_fixture_results(fixture_site, tmp_path / "results")
    failed = dict(records[("s1_lighter", 0)], status="failed", epochs=[],
                  failure="training diverged at epoch 2, step 40: the loss is nan; lower the "
                          "learning rate")
    write_json(metrics_path(tmp_path / "results", "s1_lighter", 0), failed)
    docs = copy_rendered_docs(fixture_site, tmp_path / "docs")
    assert render(tmp_path / "results", docs) == 0
    page = (docs / "step-1" / "s1_lighter.md").read_text()
    assert "Training failed" in page and "training diverged at epoch 2" in page
    assert "## Analysis" in (docs / "step-1" / "s1_skeleton.md").read_text()
    assert "FAIL" not in (docs / "step-1" / "s1_skeleton.md").read_text().split("## Target")[0]


def test_a_second_build_on_the_same_results_is_refused(tmp_path, capsys, fixture_site):
    copy_fixture_results(fixture_site, tmp_path / "results")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from mnist_course.store.files import ResultsLock; "
        f"lock = ResultsLock({str(tmp_path / 'results')!r}); lock.acquire(); "
        "print('locked', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        docs = copy_rendered_docs(fixture_site, tmp_path / "docs")
        code = load_builder().main(["--no-train", "--results-dir", str(tmp_path / "results"),
                                    "--docs-dir", str(docs)])
        err = capsys.readouterr().err
        assert code != 0 and "another build is running" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and the next build takes it over
    assert render(tmp_path / "results", docs) == 0


def test_kill_9_mid_training_then_resume_gives_the_uninterrupted_numbers(mnist_dir, tmp_path):
    def train(results, *extra):
        return [sys.executable, "-m", "mnist_course", "train", "s3_final", "--seed", "2",
                "--epochs", "3", "--train-subset", "1000", "--data-dir", str(mnist_dir),
                "--results-dir", str(results), "--threads", "1", "--no-progress", *extra]

    subprocess.run(train(tmp_path / "straight"), check=True, capture_output=True)
    run = tmp_path / "killed" / "s3_final" / "seed-2"
    victim = subprocess.Popen(train(tmp_path / "killed"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)  # no clean-up handler can run
    victim.wait()
    assert (run / "checkpoint.pt").exists()
    assert not (run / "metrics.json").exists()  # a killed run never looks complete
    subprocess.run(train(tmp_path / "killed"), check=True, capture_output=True)

    def numbers(path):
        record = json.loads(path.read_text())
        return [{k: v for k, v in e.items() if k != "seconds"} for e in record["epochs"]]

    straight = tmp_path / "straight" / "s3_final" / "seed-2" / "metrics.json"
    assert numbers(run / "metrics.json") == numbers(straight)
    assert not (run / "checkpoint.pt").exists()
