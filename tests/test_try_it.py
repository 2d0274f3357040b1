"""The "Try it" page: the export of a network for the browser, the models the page offers, the
receptive-field outlines, and the page itself in Chromium: MNIST test digits through
``window.classifyDigit`` against PyTorch, the page's preparation of drawn strokes against a
Python reference, no request off the site, a phone with touch, and a student's site."""

from __future__ import annotations

import base64
import importlib.util
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import test_browser
import torch
from conftest import assert_builds_clean, fake_record
from conftest import mkdocs_build as build_strict
from test_browser import need_browser, served
from test_report import mkdocs_build, render
from torch import nn

from mnist_course.architecture.receptive_field import trace_receptive_field
from mnist_course.models import COURSE
from mnist_course.pipeline.browser_export import (
    BrowserUnsupported,
    forward_program,
    reference_probabilities,
)
from mnist_course.pipeline.try_it_exports import refresh_try_it
from mnist_course.report.model_results import ModelResults, load_architecture
from mnist_course.report.site import WriteLog
from mnist_course.report.try_it import (
    DIGIT_BOX,
    FINAL_ROLE,
    IMAGE_SIZE,
    PASSING_ROLE,
    SMALLEST_ROLE,
    choose_models,
    layer_fields,
    step_fields,
)
from mnist_course.store.files import load_weights, save_weights, weights_path
from mnist_course.training.train_model import load_trained

browser = test_browser.browser  # headless Debian Chromium, one per module
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "results"
EXAMPLE = REPO / "tests" / "example_course" / "course.py"
TOLERANCE = 1e-4  # probabilities: the page's against PyTorch's


# ------------------------------------------------------------------ the export


def import_file(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decoded(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def test_every_course_model_exports_with_its_weights_exactly():
    for model in COURSE:
        network = model.network().eval()
        steps = forward_program(network)
        convs = [s for s in steps if s["op"] == "conv"]
        modules = [m for m in network.modules() if isinstance(m, nn.Conv2d)]
        assert len(convs) == len(modules), model.id
        for step, module in zip(convs, modules, strict=True):
            assert np.array_equal(decoded(step["weight"]),
                                  module.weight.detach().numpy().ravel()), model.id
            assert step["groups"] == module.groups and step["padding"] == list(module.padding)
        assert steps[-1]["op"] == "log_softmax" and steps[-1]["shape"] == [10], model.id


def test_depthwise_padding_and_stride_are_recorded():
    steps = forward_program(COURSE.get("s3_depthwise").network())
    assert any(s["op"] == "conv" and s["groups"] > 1 for s in steps)
    example = import_file(EXAMPLE, "try_it_example_course")
    padded = forward_program(example.Padded())
    assert padded[0]["padding"] == [1, 1] and padded[0]["shape"] == [8, 28, 28]
    strided = [s for s in forward_program(example.Strided()) if s["op"] == "conv"]
    assert strided[1]["stride"] == [2, 2]


class SkipConnection(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(1, 10, 3)
        self.second = nn.Conv2d(10, 10, 3, padding=1)

    def forward(self, x):
        x = self.first(x)
        return (x + self.second(x)).mean((2, 3))


class Flattened(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.head = nn.Conv2d(2, 10, 26)

    def forward(self, x):
        return self.head(self.conv(x)).view(-1, 10) * 2.0


@pytest.mark.parametrize("network, words", [
    (SkipConnection(), "combines the image's path with another tensor"),
    (Flattened(), "mul on a 10 tensor"),
])
def test_what_the_browser_cannot_run_is_named(network, words):
    with pytest.raises(BrowserUnsupported, match=words):
        forward_program(network)


# ------------------------------------------------------------------ receptive fields


class LinearStack(nn.Module):
    """No ReLU and no max-pool: every input pixel in a cell's window changes that cell, so
    the window is exactly where the gradient is not zero, where it lies on the image. Near an
    edge part of a window is padding, and rows a stride or a pool dropped at the far edge are
    padding too: the outline then holds every pixel the cell uses, and some it does not."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, stride=2),
                                    nn.AvgPool2d(2), nn.Conv2d(2, 2, 3, dilation=2, padding=2),
                                    nn.Conv2d(2, 10, 3))

    def forward(self, x):
        return self.layers(x)


def test_the_outline_is_exactly_the_pixels_a_cell_depends_on():
    torch.manual_seed(0)
    network = LinearStack().eval()
    fields = layer_fields(trace_receptive_field(network).rows)
    image = torch.randn(1, 1, 28, 28, requires_grad=True)
    x, outputs, checked = image, [], {"cells": 0, "clipped": 0}
    for layer in network.layers:
        x = layer(x)
        outputs.append(x)
    for field, output in zip(fields, outputs, strict=True):
        size = output.shape[2]
        for row, col in {(0, 0), (size - 1, size // 2), (size // 2, size - 1)}:
            image.grad = None
            output[0, 0, row, col].backward(retain_graph=True)
            rows, cols = np.nonzero(image.grad[0, 0].numpy())
            half = (field["rf"] - 1) / 2
            top, left = field["start"] + row * field["jump"], field["start"] + col * field["jump"]
            for (low, high), used in (((top - half, top + half), rows),
                                      ((left - half, left + half), cols)):
                if 0 <= low and high <= 27:  # the window lies on the image: all of it is used
                    assert (used.min(), used.max()) == (low, high)
                else:  # part of it is padding: the outline holds every pixel the cell uses
                    assert max(0, low) <= used.min() and used.max() <= min(27, high)
                    checked["clipped"] += 1
            checked["cells"] += 1
    assert checked["clipped"] and checked["cells"] > checked["clipped"] // 2


def test_the_fields_follow_the_course_tables():
    architecture = load_architecture(RESULTS, "s3_final")
    steps = forward_program(COURSE.get("s3_final").network())
    fields = step_fields(architecture, steps)
    assert [f["rf"] for f in fields] == [r["rf_out"] for r in architecture["receptive_field"]]
    stale = dict(architecture, receptive_field=architecture["receptive_field"][:-1])
    assert step_fields(stale, steps) is None


# ------------------------------------------------------------------ which models the page offers


def results(model_id: str, params: int, lowest: float, seeds=(0,)) -> ModelResults:
    tests = [98.0] * 10 + [lowest] * 5
    return ModelResults(COURSE.get(model_id), [fake_record(model_id, s, tests, params=params)
                                                for s in seeds])


def test_the_page_offers_the_final_the_smallest_passing_and_the_smallest_model():
    course = [results("s3_final", 7_000, 99.5), results("s3_lean", 5_000, 99.45),
              results("s3_tiny", 3_000, 99.2), results("s3_small", 4_000, 99.5, seeds=(1,)),
              results("s3_narrow", 4_500, 99.3)]
    chosen = {r.model.id: roles for r, roles in choose_models(course, "s3_final")}
    assert chosen == {"s3_final": (FINAL_ROLE,), "s3_lean": (PASSING_ROLE,),
                      "s3_tiny": (SMALLEST_ROLE,)}  # s3_small has no seed 0
    every = [r.model.id for r, _ in choose_models(course, "s3_final", every_model=True)]
    assert every == ["s3_final", "s3_lean", "s3_tiny", "s3_narrow"]
    one = [results("s3_final", 7_000, 99.5)]
    assert choose_models(one, "s3_final")[0][1] == (FINAL_ROLE, PASSING_ROLE, SMALLEST_ROLE)
    assert choose_models([], "s3_final") == []


def test_an_export_is_made_once_and_again_when_the_weights_change(tmp_path, monkeypatch):
    model = COURSE.get("s3_tiny")
    torch.manual_seed(0)
    save_weights(model.network().state_dict(), weights_path(tmp_path / "results", model.id, 0))
    site = types.SimpleNamespace(models=[results("s3_tiny", 3_000, 99.5)],
                                 course=types.SimpleNamespace(final="s3_tiny"))
    docs = tmp_path / "docs"
    data, line = refresh_try_it(site, tmp_path / "results", docs, False, WriteLog())
    assert "exported: s3_tiny" in line and data.runnable and data.runnable[0].fields is None
    exported = json.loads((docs / "try-it" / "models" / "s3_tiny.json").read_text())
    assert exported["runnable"] and exported["mean"] > 0 and exported["std"] > 0
    # Current: no torch needed (the exporter cannot even be imported).
    monkeypatch.setitem(sys.modules, "mnist_course.pipeline.browser_export", None)
    data, line = refresh_try_it(site, tmp_path / "results", docs, False, WriteLog())
    assert "none (all current)" in line and data.runnable
    # New weights and no torch: the page names the model and says why.
    torch.manual_seed(1)
    save_weights(model.network().state_dict(), weights_path(tmp_path / "results", model.id, 0))
    data, line = refresh_try_it(site, tmp_path / "results", docs, False, WriteLog())
    assert "torch is not installed" in data.not_runnable[0].reason
    monkeypatch.delitem(sys.modules, "mnist_course.pipeline.browser_export")
    data, line = refresh_try_it(site, tmp_path / "results", docs, False, WriteLog())
    assert "exported: s3_tiny" in line
    assert json.loads((docs / "try-it" / "models" / "s3_tiny.json").read_text()) != exported


# ------------------------------------------------------------------ MNIST's preparation, in Python


def area_weights(n: int, size: int) -> np.ndarray:
    """(size, n): how much of old pixel s each of ``size`` new pixels covers, so that each new
    pixel is the average of the old pixels under it."""
    factor, weights = n / size, np.zeros((size, n))
    for t in range(size):
        low, high = t * factor, (t + 1) * factor
        for s in range(int(np.floor(low)), min(n, int(np.ceil(high)))):
            weights[t, s] = max(0.0, min(high, s + 1) - max(low, s)) / factor
    return weights


def mnist_reference(ink: np.ndarray) -> np.ndarray:
    """The drawing as MNIST prepared its digits: the ink's bounding box scaled (keeping its
    proportions) until its longer side is DIGIT_BOX pixels, placed in IMAGE_SIZE pixels with
    its centre of mass in the middle (the whole digit kept inside)."""
    rows, cols = np.nonzero(ink > 0)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = DIGIT_BOX / max(crop.shape)
    height, width = (max(1, int(np.floor(n * scale + 0.5))) for n in crop.shape)
    small = area_weights(crop.shape[0], height) @ crop @ area_weights(crop.shape[1], width).T
    ys, xs = np.indices(small.shape)
    middle = (IMAGE_SIZE - 1) / 2
    top = int(np.floor(middle - (small * ys).sum() / small.sum() + 0.5))
    left = int(np.floor(middle - (small * xs).sum() / small.sum() + 0.5))
    top, left = min(max(top, 0), IMAGE_SIZE - height), min(max(left, 0), IMAGE_SIZE - width)
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    image[top:top + height, left:left + width] = np.minimum(1, small)
    return image


# ------------------------------------------------------------------ the page in Chromium

SEVEN = [[(60, 60), (220, 60), (200, 110), (160, 170), (130, 240)]]
STROKES = {  # drawn in the 280-pixel canvas' own pixels
    "seven": SEVEN,
    "a small one, off to the side": [[(230, 30), (236, 70), (240, 110)]],
    "a wide zero": [[(140, 90), (40, 120), (60, 200), (220, 210), (250, 130), (140, 90)]],
    "a four in two strokes": [[(80, 40), (60, 150), (200, 150)], [(170, 60), (170, 250)]],
}


def mnist_test_images(mnist_dir: Path, count: int) -> np.ndarray:
    raw = (mnist_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes()
    return np.frombuffer(raw[16:16 + count * 784], dtype=np.uint8).reshape(count, 784) / 255.0


@pytest.fixture(scope="module")
def course_site(tmp_path_factory):
    """The built-in course rendered from the committed runs (nothing trains) and built."""
    need_browser()
    root = tmp_path_factory.mktemp("try-it")
    # with its figures: they are current, so none is drawn again (drawing them takes minutes)
    docs = Path(shutil.copytree(REPO / "docs", root / "docs"))
    # a copy of the committed runs: a render locks the folder it reads, and the repository
    # is not the tests' to write in
    assert render(Path(shutil.copytree(RESULTS, root / "results")), docs) == 0
    assert mkdocs_build(root, docs).returncode == 0
    with served(root / "site") as url:
        yield {"url": url + "try-it/", "base": url, "docs": docs}


def offered(page) -> list[str]:
    return page.eval_on_selector_all("#mc-try-model option", "o => o.map(x => x.value)")


def classify(page, images: np.ndarray, model_id: str) -> np.ndarray:
    return np.array(page.evaluate(
        "([images, id]) => Promise.all(images.map(p => window.classifyDigit(p, id)))",
        [images.tolist(), model_id]))


def assert_same_as_pytorch(page, network: nn.Module, images: np.ndarray, model_id: str) -> None:
    expected = reference_probabilities(network, images)
    got = classify(page, images, model_id)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE, model_id
    assert (got.argmax(1) == expected.argmax(1)).all(), model_id


@pytest.mark.browser
def test_hundred_test_digits_give_pytorchs_probabilities(course_site, browser, mnist_dir):
    page = browser.new_page()
    page.goto(course_site["url"], wait_until="networkidle")
    models = offered(page)
    assert COURSE.final in models and len(models) >= 2
    images = mnist_test_images(mnist_dir, 100)
    for model_id in models:
        assert_same_as_pytorch(page, load_trained(COURSE.get(model_id), RESULTS), images,
                               model_id)
    page.close()


def draw(page, strokes, touch: bool = False) -> None:
    """Draw ``strokes`` on the page's canvas, with the mouse or with a finger."""
    canvas = page.locator("#mc-try-draw")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scale = box["width"] / page.evaluate("document.getElementById('mc-try-draw').width")

    def at(x, y):
        return box["x"] + x * scale, box["y"] + y * scale

    cdp = page.context.new_cdp_session(page) if touch else None
    for stroke in strokes:
        points = [at(*p) for p in stroke]
        if cdp is None:
            page.mouse.move(*points[0])
            page.mouse.down()
            for x, y in points[1:]:
                page.mouse.move(x, y, steps=8)
            page.mouse.up()
            continue
        cdp.send("Input.dispatchTouchEvent",
                 {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
            for k in range(1, 9):
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
                    {"x": x0 + (x1 - x0) * k / 8, "y": y0 + (y1 - y0) * k / 8}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    # the page prepares the drawing at the next animation frame: two frames on, it has
    page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.wait_for_function("document.getElementById('mc-try-verdict').textContent"
                           ".startsWith('It reads')")


@pytest.mark.browser
def test_the_page_prepares_drawn_strokes_as_the_python_reference(course_site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(course_site["url"], wait_until="networkidle")
    for name, strokes in STROKES.items():
        page.click("#mc-try-clear")
        page.wait_for_function("document.getElementById('mc-try-verdict').textContent"
                               ".startsWith('Draw')")
        draw(page, strokes)
        state = page.evaluate("window.tryItState()")
        ink = np.array(state["ink"]).reshape(state["height"], state["width"])
        shown = np.array(state["input"]).reshape(IMAGE_SIZE, IMAGE_SIZE)
        assert np.abs(shown - mnist_reference(ink)).max() < 1e-9, name
        assert shown.max() > 0.5, name
    page.close()


def table_rf(model_id: str, layer: str) -> int:
    rows = load_architecture(RESULTS, model_id)["receptive_field"]
    return next(r["rf_out"] for r in rows if r["name"] == layer)


def last_convolution_before_pooling(page):
    """The feature-map row of the last convolution before global average pooling."""
    layers = page.locator(".mc-try-layer")
    for index in range(layers.count() - 1, -1, -1):
        if "1x1;" not in layers.nth(index).locator(".mc-try-label").inner_text():
            return layers.nth(index)
    raise AssertionError("no convolution with a map larger than one pixel")


@pytest.mark.browser
def test_a_drawn_seven_and_the_receptive_field_with_the_mouse(course_site, browser):
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(course_site["url"], wait_until="networkidle")
    draw(page, SEVEN)
    assert page.locator("#mc-try-verdict").inner_text().startswith("It reads 7")
    layer = last_convolution_before_pooling(page)
    name = layer.locator(".mc-try-label").inner_text().split(":")[0]
    rf = table_rf(COURSE.final, name)
    cell = layer.locator("canvas.mc-try-map").first
    cell.scroll_into_view_if_needed()
    cell.hover()
    said = page.locator("#mc-try-field").inner_text()
    assert said.startswith(f"{name}, channel 0") and f"a window of {rf} x {rf} pixels" in said
    for model_id in offered(page):  # every model runs: maps for each of its convolutions
        page.select_option("#mc-try-model", model_id)
        page.wait_for_function(f"document.querySelector('#mc-try-model').value === '{model_id}'"
                               " && document.querySelectorAll('.mc-try-layer').length > 0")
    assert errors == []
    assert [u for u in requests if not u.startswith((course_site["base"], "data:", "blob:"))] == []
    page.close()


@pytest.mark.browser
def test_a_phone_draws_with_a_finger_and_taps_a_cell(course_site, browser, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.goto(course_site["url"], wait_until="networkidle")
    draw(page, SEVEN, touch=True)
    assert page.locator("#mc-try-verdict").inner_text().startswith("It reads 7")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    layer = last_convolution_before_pooling(page)
    name = layer.locator(".mc-try-label").inner_text().split(":")[0]
    cell = layer.locator("canvas.mc-try-map").nth(1)
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    page.touchscreen.tap(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2)
    rf = table_rf(COURSE.final, name)
    said = page.locator("#mc-try-field").inner_text()
    assert f"{name}, channel 1" in said and f"a window of {rf} x {rf} pixels" in said
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    context.close()


# ------------------------------------------------------------------ a student's site

STUDENT_COURSE = '''
import torch
from torch import nn

import mnist_course as mc


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, groups=8),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 10, 1))

    def forward(self, x):
        return torch.log_softmax(self.body(x).flatten(1), dim=1)


class WithSkip(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(1, 10, 3)
        self.second = nn.Conv2d(10, 10, 3, padding=1)

    def forward(self, x):
        x = torch.relu(self.first(x))
        return (x + self.second(x)).mean((2, 3))


RECIPE = mc.Recipe(epochs=15, lr=0.05)
COURSE = mc.Course(title="A <b>student</b> course", models=[
    mc.CourseModel(id="small", step=1, title="Small <script>x</script>", recipe=RECIPE,
                   target="Small.", build=Small, analysis="{{ m.params|count }}."),
    mc.CourseModel(id="skip", step=2, title="With a skip connection", previous="small",
                   recipe=RECIPE, target="A skip.", build=WithSkip,
                   analysis="{{ m.params|count }}."),
])
'''


@pytest.mark.slow
@pytest.mark.browser
def test_a_students_site_has_the_page_for_its_models(tmp_path, browser, mnist_dir):
    need_browser()
    (tmp_path / "course.py").write_text(STUDENT_COURSE)
    out = tmp_path / "report"
    built = subprocess.run(
        [sys.executable, "-m", "mnist_course", "build", "--course", str(tmp_path / "course.py"),
         "--out", str(out), "--data-dir", str(mnist_dir), "--epochs", "1", "--train-subset",
         "500", "--jobs", "1"], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    page_text = (out / "docs" / "try-it" / "index.md").read_text()
    assert "With a skip connection" in page_text and "combines the image" in page_text
    assert "<script>x" not in page_text  # the student's title stays text
    assert '"Try it"' in (out / "mkdocs.yml").read_text()
    assert_builds_clean(build_strict(out / "mkdocs.yml"))
    network = import_file(tmp_path / "course.py", "try_it_student_course").Small()
    network.load_state_dict(load_weights(weights_path(out / "results-preview", "small", 0)))
    with served(out / "site") as url:
        page = browser.new_page()
        page.goto(url + "try-it/", wait_until="networkidle")
        assert offered(page) == ["small"]
        assert_same_as_pytorch(page, network, mnist_test_images(mnist_dir, 20), "small")
        page.close()
