"""Static checks before training: a build stops in one line naming the model, and trains
nothing, when a model breaks a requirement it can be checked on without data; a run that
fails while it trains shows on its page as failed, with its reason."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from mnist_course.architecture.static_checks import (
    check_before_training,
    requirement_findings,
    static_findings,
)
from mnist_course.course.definition import CourseModel
from mnist_course.course.loading import load_course
from mnist_course.course.recipe import Recipe
from mnist_course.errors import UsageError
from mnist_course.store.files import metrics_path

RECIPE = Recipe(epochs=1, lr=0.05)
COURSE_FILE = '''
import torch
from torch import nn

import mnist_course as mc


class Good(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                  nn.Conv2d(16, 10, 1))

    def forward(self, x):
        return self.body(x).flatten(1)


class NotFlattened(Good):
    def forward(self, x):
        return self.body(x)  # (B, 10, 1, 1)


class WithLinear(Good):
    """Within budget: its only fault is the fully connected classifier."""

    def __init__(self):
        super().__init__()
        self.body[-1] = nn.Conv2d(16, 16, 1)
        self.classifier = nn.Linear(16, 10)

    def forward(self, x):
        return self.classifier(self.body(x).flatten(1))


class OverBudget(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 10, 1))

    def forward(self, x):
        return self.body(x).flatten(1)


class Raises(Good):
    def forward(self, x):
        return self.body(x).view(3, 10)  # wrong for any batch but 3


class FailsWhileTraining(Good):
    def forward(self, x):
        if self.training:
            raise RuntimeError("this network fails in training mode")
        return super().forward(x)


COURSE = mc.Course(title="Static checks", models=[
    mc.CourseModel(id="good", step=1, title="Good", target="", analysis="", build=Good,
                   recipe=mc.Recipe(epochs=1, lr=0.05)),
    mc.CourseModel(id="second", step=2, title="Second", target="", analysis="",
                   build=SECOND, recipe=mc.Recipe(epochs=1, lr=0.05)),
])
'''


def course_file(tmp_path: Path, second: str) -> Path:
    path = tmp_path / "course.py"
    path.write_text(COURSE_FILE.replace("build=SECOND", f"build={second}"))
    return path


def build(path: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_course", "build", "--course", str(path),
                           "--out", str(out), "--epochs", "1", "--train-subset", "200",
                           "--jobs", "1"], capture_output=True, text=True, timeout=600)


# What the message must say for each broken model: the finding, and the fix.
BROKEN = {
    "NotFlattened": "output (2, 10, 1, 1) for a (2, 1, 28, 28) batch: it must be (2, 10), one "
                    "score per digit (flatten it at the end of forward: return x.flatten(1))",
    "WithLinear": "fully connected layer classifier (nn.Linear): the network must be fully "
                  "convolutional (use a 1x1 convolution after global average pooling)",
    # 32 * 9 + 32 + 32 * 32 * 9 + 32 + 32 * 10 + 10 = 320 + 9,248 + 330 = 9,898
    "OverBudget": "9,898 parameters: the assignment allows fewer than 8,000 (narrow or remove "
                  "layers)",
    "Raises": "a (2, 1, 28, 28) batch does not go through: ",
}


@pytest.mark.parametrize("second", BROKEN)
def test_a_broken_model_stops_the_build_before_any_training(tmp_path, second):
    path = course_file(tmp_path, second)
    result = build(path, tmp_path / "out")
    assert result.returncode == 2, result.stdout + result.stderr
    error = result.stderr.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in error, error
    assert error.startswith("mnist-course: error: model 'second' fails a static check, so "
                            "nothing was trained: ")
    assert BROKEN[second] in error
    assert f"`mnist-course check {path}:{second}` checks it again" in error
    assert "trained:" not in result.stdout and "run(s)" not in result.stdout
    assert not list((tmp_path / "out").rglob("metrics.json"))  # not even the good model


def test_every_broken_model_is_listed_and_good_ones_pass(tmp_path):
    course = load_course(course_file(tmp_path, "Good"))
    check_before_training(list(course))  # nothing to say: it returns
    module = inspect.getmodule(course.models[0].build)
    models = [CourseModel(id=name.lower(), step=1, title=name, target="", analysis="",
                          build=getattr(module, name), recipe=RECIPE) for name in BROKEN]
    with pytest.raises(UsageError) as caught:
        check_before_training(models)
    message = str(caught.value)
    assert message.startswith("model 'notflattened' fails a static check")
    assert message.endswith("(also failing: overbudget, raises, withlinear)")


def test_a_network_that_cannot_be_built_is_named():
    def broken():
        raise ValueError("no such width")

    model = CourseModel(id="broken", step=1, title="Broken", target="", analysis="",
                        build=broken, recipe=RECIPE)
    with pytest.raises(UsageError) as caught:
        check_before_training([model])
    line = inspect.getsourcelines(broken)[1] + 1
    assert str(caught.value) == ("model 'broken' fails a static check, so nothing was trained: "
                                 f"build() failed: {__file__}:{line}: ValueError: no such width")


def test_requirement_findings_reuse_the_parameter_count():
    network = nn.Sequential(nn.Conv2d(1, 10, 28), nn.Flatten())
    findings = requirement_findings(network)
    # 1 * 10 * 28 * 28 + 10 = 7,850 parameters; output (2, 10)
    assert [f.text for f in findings] == [
        "7,850 parameters: the assignment allows fewer than 8,000",
        "no fully connected layer",
        "output (2, 10) for a (2, 1, 28, 28) batch",
    ]
    assert all(f.passed and f.requirement for f in findings)


def test_a_run_that_fails_while_training_shows_as_failed_on_its_page(tmp_path, mnist_dir):
    path = course_file(tmp_path, "FailsWhileTraining")
    out = tmp_path / "out"
    result = build(path, out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "second seed 0" in result.stdout and "FAILED" in result.stdout
    assert "good seed 0" in result.stdout and "trained:" in result.stdout
    line = path.read_text().splitlines().index(
        '            raise RuntimeError("this network fails in training mode")') + 1
    reason = f"{path}:{line}: RuntimeError: this network fails in training mode"
    record = metrics_path(out / "results-preview", "second", 0).read_text()
    assert '"status": "failed"' in record and reason in record
    pages = [p for p in (out / "docs").rglob("*.md") if "Training failed" in p.read_text()]
    assert len(pages) == 1 and "second" in pages[0].read_text()
    # the page escapes the path's underscores for Markdown; the reason follows it as stored
    assert f"course.py:{line}: RuntimeError: this network fails in training mode." in (
        pages[0].read_text())


def test_a_forward_that_takes_only_batches_of_two_fails_one_line():
    class OnlyPairs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 10, 28)

        def forward(self, x):
            return self.conv(x).view(2, 10)

    findings, summary, trace = static_findings(OnlyPairs())
    assert summary is None and trace is None
    assert not findings[-1].passed
    assert findings[-1].text.startswith("a (1, 1, 28, 28) batch (one image) does not go "
                                        f"through: {__file__}:")
    assert "RuntimeError" in findings[-1].text and "\n" not in findings[-1].text
