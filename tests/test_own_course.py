"""A student's own course end to end: new, check, build (a quick preview on 500 images).

The example course lives outside the package (tests/example_course/course.py): three
nn.Module models, one padded, one with a stride-2 convolution. It is copied into a
scratch folder and built with the command a student runs; the edits below are the ones a
student makes between two builds.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_builds_clean, mkdocs_build

from mnist_course.course.definition import Course, CourseModel
from mnist_course.course.loading import load_course
from mnist_course.course.recipe import Recipe
from mnist_course.course.student_code import build_source
from mnist_course.errors import UsageError
from mnist_course.report.render import check_analysis_template

EXAMPLE = Path(__file__).resolve().parent / "example_course" / "course.py"
# The smallest preview that still trains every model: what is tested is the build around
# the runs (which trains, the pages, the write-up), not what the networks learn.
PREVIEW_IMAGES = 500
PREVIEW = ["--epochs", "1", "--train-subset", str(PREVIEW_IMAGES), "--jobs", "1"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mnist_course", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


def trained(result: subprocess.CompletedProcess) -> list[str]:
    """The runs a build reports as trained, in the order they finished."""
    return sorted(re.findall(r"^(\S+ seed \d+)\s+trained:", result.stdout, flags=re.M))


# ------------------------------------------------------------------ without training


def test_the_built_in_course_is_one_course_like_any_other():
    course = load_course(None)
    assert isinstance(course, Course) and course.final == "s3_final" and course.concepts
    assert all(model.from_spec for model in course)


def test_a_course_file_loads_with_its_models(tmp_path):
    course = load_course(EXAMPLE)
    assert course.ids() == ["padded", "strided", "rotated"]
    assert not course.concepts and course.final == "rotated"
    assert [m.seeds for m in course] == [(0,), (0,), (0,)]


def test_the_cache_key_follows_the_code_not_the_words(tmp_path):
    copy = tmp_path / "course.py"
    text = EXAMPLE.read_text()
    copy.write_text(text)
    before = {m.id: m.architecture_json() for m in load_course(copy)}
    # A title, a Target or an Analysis is not in the key ...
    copy.write_text(text.replace('title="Padded convolutions"', 'title="Padding, renamed"')
                    .replace("Keep the map size", "Keep the size of the map"))
    assert {m.id: m.architecture_json() for m in load_course(copy)} == before
    # ... the class is, and so is a helper or constant it uses, for every model built on it.
    copy.write_text(text.replace("return self.body(x).flatten(1)\n\n\nclass Strided",
                                 "return self.body(x).flatten(start_dim=1)\n\n\nclass Strided"))
    after = {m.id: m.architecture_json() for m in load_course(copy)}
    assert after["padded"] != before["padded"]
    assert after["strided"] == before["strided"] and after["rotated"] == before["rotated"]
    copy.write_text(text.replace("WIDTH = 8", "WIDTH = 6"))
    assert all(m.architecture_json() != before[m.id] for m in load_course(copy))


def test_build_source_names_what_counts():
    from functools import partial

    def helper():
        return 1

    source = build_source(partial(helper))
    assert "def helper" in source and "partial arguments" in source


@pytest.mark.parametrize("analysis, message", [
    ("{{ seeds.mean_last5|pct ", "course model broken: analysis template, line 1"),
    ("{{ nonsense }}", "course model broken: analysis template names unknown variable(s) "
                       "nonsense"),
    ("{{ m.params|no_such_filter }}", "course model broken: analysis template, line 1: No "
                                      "filter named 'no_such_filter'"),
])
def test_a_broken_analysis_template_is_named_in_one_line(analysis, message):
    model = CourseModel("broken", step=1, title="Broken", target="x", recipe=Recipe(),
                        analysis=analysis, build=dict)
    with pytest.raises(UsageError) as error:
        check_analysis_template(model)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"id": "no spaces"}, "course model 'no spaces': the id must start with a letter"),
    ({"architecture": (), "build": dict}, "give exactly one of architecture="),
    ({"build": None}, "give exactly one of architecture="),
    ({"seeds": ()}, "seeds must be whole numbers"),
    ({"recipe": {"lr": 0.1}}, "recipe must be an mc.Recipe"),
])
def test_a_bad_course_model_is_one_line_naming_it(kwargs, message):
    values = {"id": "net", "step": 1, "title": "Net", "target": "x", "recipe": Recipe(),
              "analysis": "", "build": dict, **kwargs}
    with pytest.raises(UsageError, match=re.escape(message)):
        CourseModel(**values)


def test_a_course_refuses_unknown_steps_and_previous_models():
    model = CourseModel("a", step=4, title="A", target="x", recipe=Recipe(), analysis="",
                        build=dict)
    with pytest.raises(UsageError, match="step 4 is not one of the course's steps"):
        Course(title="T", models=[model])
    later = CourseModel("b", step=1, title="B", target="x", recipe=Recipe(), analysis="",
                        build=dict, previous="c")
    with pytest.raises(UsageError, match="previous='c' must name a model listed before it"):
        Course(title="T", models=[later])


CHECKS = '''
import torch
from torch import nn


class WithLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


def over_budget():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 10, 1), nn.Flatten())


def good():
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Conv2d(16, 10, 1), nn.Flatten())
'''


@pytest.fixture
def checks_file(tmp_path):
    path = tmp_path / "nets.py"
    path.write_text(CHECKS)
    return path


def test_check_a_good_network_passes_with_its_tables(checks_file):
    result = run_cli("check", f"{checks_file}:good")
    assert result.returncode == 0, result.stdout + result.stderr
    params = 8 * 9 + 8 + 8 * 16 * 9 + 16 + 16 * 10 + 10
    assert f"ok    {params:,} parameters: the assignment allows fewer than 8,000" in result.stdout
    assert "ok    output (2, 10) for a (2, 1, 28, 28) batch" in result.stdout
    assert "receptive field (along the height):" in result.stdout
    assert "every requirement checked passes" in result.stdout


def test_check_names_each_failure_on_its_own_line(checks_file):
    linear = run_cli("check", f"{checks_file}:WithLinear")
    assert linear.returncode == 1
    assert "FAIL  fully connected layer fc (nn.Linear)" in linear.stdout
    over = run_cli("check", f"{checks_file}:over_budget")
    assert over.returncode == 1
    params = 9 * 32 + 32 + 32 * 32 * 9 + 32 + 32 * 10 + 10
    assert (f"FAIL  {params:,} parameters: the assignment allows fewer than 8,000"
            in over.stdout)


def test_check_usage_errors_are_one_line_exit_2(checks_file, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\n\nx = 1\nraise ValueError('oops')\n")
    cases = [
        (f"{tmp_path / 'missing.py'}:Net", "no such file"),
        (f"{checks_file}:Nope", "has no 'Nope'; it defines WithLinear, good, over_budget"),
        (f"{broken}:Net", f"cannot import broken.py: {broken}:4: ValueError: oops"),
        (str(checks_file), "expected FILE.py:NAME"),
    ]
    for target, message in cases:
        result = run_cli("check", target)
        assert result.returncode == 2, target
        assert message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_check_given_a_model_id_names_the_class_to_give():
    result = run_cli("check", f"{EXAMPLE}:padded")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"mnist-course: error: 'padded' is a model id; give the "
                                     f"class or function it is built from: {EXAMPLE}:Padded")


def test_list_takes_a_course_file():
    result = run_cli("list", "--course", str(EXAMPLE))
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [
        "padded", "strided", "rotated"]


# ------------------------------------------------------------------ built end to end


@pytest.fixture(scope="module")
def project(tmp_path_factory, mnist_dir):
    """The example course, copied to a scratch folder and built as a quick preview."""
    root = tmp_path_factory.mktemp("own")
    course = root / "course.py"
    shutil.copy(EXAMPLE, course)
    out = root / "report"
    # What a full build left: its write-up, and a figure no write-up shows any more.
    (out / "WRITEUP_files").mkdir(parents=True)
    (out / "WRITEUP.md").write_text("The full runs' write-up.\n")
    (out / "WRITEUP-preview_files" / "old").mkdir(parents=True)
    (out / "WRITEUP-preview_files" / "old" / "curves.svg").write_text("<svg/>")
    result = run_cli("build", "--course", str(course), "--out", str(out), "--data-dir",
                     str(mnist_dir), *PREVIEW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert trained(result) == ["padded seed 0", "rotated seed 0", "strided seed 0"]
    assert "WRITEUP-preview.md is the quick preview's write-up; WRITEUP.md, the write-up of " \
           "the full runs, is left as it was" in result.stdout
    return {"course": course, "out": out, "data": mnist_dir}


@pytest.mark.slow
def test_writeup_quotes_the_measured_numbers_and_its_links_resolve(project):
    out = project["out"]
    writeup = (out / "WRITEUP-preview.md").read_text()
    for model_id in ("padded", "strided", "rotated"):
        record = json.loads((out / "results-preview" / model_id / "seed-0" / "metrics.json")
                            .read_text())
        assert record["quick_check"] and record["train_subset"] == PREVIEW_IMAGES
        assert f"{record['epochs'][-1]['test_accuracy']:.2f} %" in writeup
        assert f'<a id="model-{model_id}"></a>' in writeup
    assert "Quick preview" in writeup
    assert f"1 epoch on {PREVIEW_IMAGES:,} training images" in writeup
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", writeup)
    assert len(images) >= 9
    for image in images:
        assert not image.startswith(("/", "http")) and (out / image).is_file(), image
    # Its folder holds exactly the figures it shows; the preview left the full write-up.
    files = {p.relative_to(out).as_posix() for p in (out / "WRITEUP-preview_files").rglob("*")
             if p.is_file()}
    assert files == set(images)
    assert (out / "WRITEUP.md").read_text() == "The full runs' write-up.\n"
    assert not list((out / "WRITEUP_files").iterdir())
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', writeup))
    for target in re.findall(r"\]\(#([^)]+)\)", writeup):
        assert target in anchors, target
    # No site-only syntax: GitHub shows it as text.
    assert "!!!" not in writeup and "???" not in writeup and "{: ." not in writeup
    assert "{{" not in writeup and "{%" not in writeup
    # The code the run trained from, and the diff between two models' classes.
    assert "class Strided(nn.Module):" in writeup and "```diff" in writeup


@pytest.mark.slow
def test_every_page_says_quick_preview_and_the_project_builds_strict(project, tmp_path):
    out = project["out"]
    pages = sorted((out / "docs").rglob("*.md"))
    # home, the solution, 3 steps, 3 models, comparison, reproduce, try it
    assert len(pages) == 1 + 1 + 3 + 3 + 2 + 1
    for page in pages:
        assert "Quick preview" in page.read_text(), page
    nav = (out / "mkdocs.yml").read_text()
    assert '"Padded convolutions": "step-1/padded.md"' in nav
    site = tmp_path / "site"
    assert mkdocs_strict(out, site).returncode == 0
    assert (site / "step-2" / "strided" / "index.html").exists()


def mkdocs_strict(out: Path, site: Path) -> subprocess.CompletedProcess:
    """``mkdocs build --strict`` of a project, as its student runs it."""
    done = mkdocs_build(out / "mkdocs.yml", site)
    assert_builds_clean(done)
    return done


@pytest.mark.slow
def test_a_project_holds_nothing_about_the_built_in_course(project):
    out = project["out"]
    texts = {p: p.read_text() for p in [out / "WRITEUP-preview.md",
                                        *sorted((out / "docs").rglob("*.md"))]}
    for path, text in texts.items():
        for words in ("scripts/build_report.py", "reuse.ipynb", "every design choice in this",
                      "step 3 fixes the training"):
            assert words not in text, (path, words)
        assert text.startswith("<!-- Generated by mnist-course build from "), path
        assert "\n&gt; " not in text, path  # a quoted block's own ">" stays one
    writeup = texts[out / "WRITEUP-preview.md"]
    assert re.search(r"\S with torch \d", writeup) and not re.search(r"\Swith torch", writeup)


@pytest.mark.slow
def test_rebuilds_train_only_what_changed_and_escape_student_text(project):
    course, out = project["course"], project["out"]
    build = ["build", "--course", str(course), "--out", str(out), "--data-dir",
             str(project["data"]), *PREVIEW]
    again = run_cli(*build)
    assert again.returncode == 0 and trained(again) == [], again.stdout
    text = course.read_text()
    # Words change nothing that trains; a hostile title shows as text, never as markup.
    course.write_text(text.replace('title="Padded convolutions"',
                                   'title="<script>alert(1)</script> [x](javascript:alert(2))"'))
    words = run_cli(*build)
    assert words.returncode == 0 and trained(words) == [], words.stdout
    page = (out / "docs" / "step-1" / "padded.md").read_text()
    writeup = (out / "WRITEUP-preview.md").read_text()
    for text_out in (page, writeup, (out / "mkdocs.yml").read_text()):
        assert "<script>" not in text_out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;" in writeup and "](javascript:" not in writeup
    # Editing one class retrains exactly the models built from it.
    course.write_text(text.replace("return self.body(x).flatten(1)\n\n\nclass Strided",
                                   "return self.body(x).flatten(start_dim=1)\n\n\nclass Strided"))
    edited = run_cli(*build)
    assert edited.returncode == 0 and trained(edited) == ["padded seed 0"], edited.stdout
    # A broken template stops the build in one line naming the model; the runs stay.
    course.write_text(text.replace("Final test accuracy {{ seeds.final_test_mean|pct }}.",
                                   "Final test accuracy {{ seeds.final_test_mean|pct ."))
    broken = run_cli(*build)
    assert broken.returncode == 2
    assert broken.stderr.startswith("mnist-course: error: course model rotated: analysis "
                                    "template, line 1")
    assert len(broken.stderr.strip().splitlines()) == 1
    assert (out / "results-preview" / "rotated" / "seed-0" / "metrics.json").exists()


@pytest.mark.slow
def test_new_writes_a_starter_course_that_builds(tmp_path, mnist_dir):
    made = run_cli("new", str(tmp_path / "mine"))
    assert made.returncode == 0, made.stderr
    course = tmp_path / "mine" / "course.py"
    assert course.exists() and (tmp_path / "mine" / "README.md").exists()
    again = run_cli("new", str(tmp_path / "mine"))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run_cli("check", f"{course}:WithBatchNorm").returncode == 0
    out = tmp_path / "mine" / "report"
    result = run_cli("build", "--course", str(course), "--out", str(out), "--data-dir",
                     str(mnist_dir), "--seeds", "0", *PREVIEW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert trained(result) == ["augmented seed 0", "batchnorm seed 0", "skeleton seed 0"]
    writeup = (out / "WRITEUP-preview.md").read_text()
    assert "## Step 3: Augmentation and the learning rate" in writeup
    assert "Not written yet" not in writeup
    mkdocs_strict(out, tmp_path / "site")


def test_every_template_variable_and_field_is_documented():
    import dataclasses

    from mnist_course.course.definition import ANALYSIS_VARIABLES
    from mnist_course.report.format import FILTERS
    from mnist_course.summary import BUDGET, Comparison, RunSummary, SeedsSummary

    page = (Path(__file__).resolve().parent.parent / "docs" / "own-assignment.md").read_text()
    names = (set(ANALYSIS_VARIABLES) | set(FILTERS) | set(BUDGET)
             | {f.name for cls in (RunSummary, SeedsSummary, Comparison)
                for f in dataclasses.fields(cls)}
             | {name for name, value in vars(Comparison).items() if isinstance(value, property)})
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert not missing, f"docs/own-assignment.md does not document {missing}"


# ------------------------------------------------------------------ the Analysis waits only
# for the runs its template uses


def _results(analysis: str, previous: str | None = "first"):
    from conftest import fake_record

    from mnist_course.report.model_results import ModelResults

    first = CourseModel("first", step=1, title="First", target="x", recipe=Recipe(),
                        analysis="", build=dict)
    second = CourseModel("second", step=2, title="Second", target="x", recipe=Recipe(),
                         analysis=analysis, build=dict, previous=previous)
    return (ModelResults(second, [fake_record("second", tests=[99.0 + 0.01 * i
                                                               for i in range(15)])]),
            ModelResults(first))  # the previous model: not trained


def test_an_analysis_that_never_uses_prev_renders_while_prev_is_untrained():
    from mnist_course.report.render import render_analysis

    current, untrained = _results("Mean {{ seeds.mean_last5|pct }} over "
                                  "{{ seeds.count|plural('seed') }}.")
    text, why = render_analysis(current, untrained, current)
    assert why == "" and text == "Mean 99.12 % over 1 seed."  # (99.10 ... 99.14) / 5


def test_an_analysis_that_uses_prev_waits_for_it_and_still_checks_its_fields():
    from mnist_course.report.render import render_analysis

    current, untrained = _results("{{ compare.difference|pts }} against "
                                  "{{ prev_seeds.mean_last5|pct }}")
    text, why = render_analysis(current, untrained, current)
    assert text == "" and "compares this model with first, which is not trained" in why
    current, untrained = _results("{{ prev_seeds.mean_lst5|pct }}")  # misspelt
    with pytest.raises(UsageError, match=r"^course model second: analysis template.*mean_lst5"):
        render_analysis(current, untrained, current)
    current, untrained = _results("{{ seeds.mean_lst5|pct }}")
    with pytest.raises(UsageError, match=r"^course model second: analysis template.*mean_lst5"):
        render_analysis(current, untrained, current)
