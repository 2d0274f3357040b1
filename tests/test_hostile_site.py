"""A student's site built from hostile titles, loaded in headless Chromium: no script runs
and no element carries an event handler, on any page, after hovering the logo and after
a search shows the titles; the titles still read as the student typed them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_builds_clean, mkdocs_build
from test_browser import CHROMIUM, built_pages, need_browser, served

pytestmark = pytest.mark.browser

ATTRIBUTE = "Course\" onmouseover=\"window.__pwned='site name'\" x=\""
CLOSES_TITLE = "Tiny</title><script>window.__pwned='page title'</script>"
IMAGE = "<img src=x onerror=\"window.__pwned='image'\">"
COURSE_FILE = f'''
from torch import nn

import mnist_course as mc


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(4, 10, 3), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.body(x).flatten(1)


COURSE = mc.Course(
    title={ATTRIBUTE + IMAGE!r},
    description={IMAGE + " [link](javascript:window.__pwned='link')"!r},
    steps={{1: {"Step' onfocus='window.__pwned=1' " + IMAGE!r}}},
    step_notes={{1: {IMAGE!r}}},
    models=[mc.CourseModel(
        "tiny", step=1, title={CLOSES_TITLE + '" onclick="window.__pwned=1'!r},
        target=({IMAGE!r}, "[x](javascript:window.__pwned='target')"),
        recipe=mc.Recipe(epochs=1), analysis="{{{{ m.params|count }}}}", build=Tiny)],
)
'''

# Every element's attributes named on...: none may exist (the theme's own markup has none).
HANDLERS = ("Array.from(document.querySelectorAll('*')).flatMap(e => Array.from(e.attributes)"
            ".filter(a => a.name.toLowerCase().startsWith('on'))"
            ".map(a => e.tagName + ' ' + a.name + '=' + a.value))")


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    need_browser()
    root = tmp_path_factory.mktemp("hostile")
    (root / "course.py").write_text(COURSE_FILE)
    out = root / "report"
    done = subprocess.run([sys.executable, "-m", "mnist_course", "build", "--course",
                           str(root / "course.py"), "--out", str(out), "--no-train"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_builds_clean(mkdocs_build(out / "mkdocs.yml"))
    with served(out / "site") as url:
        yield {"url": url, "site": out / "site", "out": out}


def test_the_generated_files_hold_the_titles_escaped(hostile_site):
    config = (hostile_site["out"] / "mkdocs.yml").read_text()
    assert 'onmouseover=\\"' not in config and "<script>" not in config
    html = "".join(p.read_text() for p in Path(hostile_site["site"]).rglob("*.html"))
    assert "<script>window.__pwned" not in html and 'onmouseover="' not in html
    assert "<img src=x" not in html


def test_no_script_runs_and_no_handler_appears_on_any_page(hostile_site):
    from playwright.sync_api import sync_playwright

    base, problems = hostile_site["url"], []
    pages = built_pages(hostile_site["site"])
    # home, the solution, the step, the model; comparison, try it, reproduce
    assert len(pages) == 1 + 1 + 1 + 1 + 3
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--headless", "--no-sandbox",
                                                   "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                          dialog.dismiss()))
        for path in pages:
            page.goto(base + path, wait_until="networkidle")
            page.hover(".md-header__button.md-logo")
            page.locator("a").first.focus()
            assert page.evaluate(HANDLERS) == [], path
            assert page.evaluate("window.__pwned") is None, path
        # The search shows every page's title; its results must stay inert too.
        page.goto(base, wait_until="networkidle")
        page.keyboard.press("s")  # Material's key for the search box
        page.keyboard.type("Tiny", delay=50)
        page.wait_for_selector(".md-search-result__item", timeout=15_000)
        assert "Tiny</title>" in page.inner_text(".md-search-result")
        assert page.evaluate(HANDLERS) == []
        assert page.evaluate("window.__pwned") is None
        # The titles read as typed: escaped once, never twice.
        page.goto(base + "step-1/tiny/", wait_until="networkidle")
        assert page.title().startswith(CLOSES_TITLE), page.title()
        assert page.inner_text("article h1").startswith(CLOSES_TITLE)
        assert page.inner_text(".md-header__topic").startswith(ATTRIBUTE)
        browser.close()
    assert problems == []
