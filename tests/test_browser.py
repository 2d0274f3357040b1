"""The built site in headless Chromium: pages load, navigation works, every image shows and
opens full size, formulas render, numbers keep their unit on their line, and no page asks
any host but the site's own or logs a console error. At a phone's 390 x 844 and a laptop's
1280 x 900, every page of the built-in course and of a student's site reads without
scrolling the page sideways, with legible figures, and with its notebook to download."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_fixtures import REPO, fixture_record

from mnist_course.models import COURSE
from mnist_course.report.colab import colab_url, repository_of
from mnist_course.report.concepts import CONCEPTS, concept_page
from mnist_course.report.paths import model_page, step_page
from mnist_course.report.plots import MIN_TEXT_PX, SMALL_TEXT
from mnist_course.store.files import metrics_path, write_json

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser


def need_browser() -> None:
    """Skip unless Debian's Chromium and Playwright's Python package are installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on a free port of 127.0.0.1; yields its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # a free port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served_site(request):
    need_browser()  # before the site is built: without a browser, nothing to build it for
    built = request.getfixturevalue("fixture_site_built")
    assert built["mkdocs"].returncode == 0, built["mkdocs"].stderr
    with served(built["site"]) as url:
        yield {"url": url, "site": built["site"]}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"])
        yield chromium
        chromium.close()


def broken_images(page) -> list[str]:
    return page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)")


def test_home_model_page_and_navigation(served_site, browser, tmp_path):
    served_site = served_site["url"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(served_site, wait_until="networkidle")
    assert "MNIST in three steps" in page.title()
    assert page.locator("h2#the-result").count() == 1
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

    page.goto(served_site + "step-3/s3_final/", wait_until="networkidle")
    for heading in ("Target", "Result", "Analysis"):
        assert page.locator(f"h2:has-text('{heading}')").count() == 1
    images = page.locator("article img")
    assert images.count() >= 3  # curves, mistakes, confusion (the fixtures keep one LR)
    assert broken_images(page) == []
    page.screenshot(path=str(tmp_path / "model.png"), full_page=True)

    page.locator("a.md-tabs__link", has_text="Comparison").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.rstrip("/").endswith("comparison")
    assert broken_images(page) == []
    page.screenshot(path=str(tmp_path / "comparison.png"), full_page=True)
    page.close()


def built_pages(site: Path) -> list[str]:
    """Every page of the built site, as a path below its root ("" for the home page)."""
    return sorted("" if p.parent == site else p.parent.relative_to(site).as_posix() + "/"
                  for p in site.rglob("index.html"))


def test_every_page_stays_on_the_site_without_console_errors(course_sweep):
    """Offline, a request to another host (a font service, a CDN) fails; none may be made."""
    pages = {path for path, _ in course_sweep["visits"]}
    assert len(pages) >= 20 and "concepts/receptive-field/" in pages
    problems = []
    for (path, width), seen in course_sweep["visits"].items():
        assert seen["ok"], (path, width)
        assert seen["broken"] == [], (path, width)
        problems += [f"/{path} at {width} px: {problem}" for problem in seen["errors"]]
        problems += [f"/{path} at {width} px: request to {url}" for url in seen["outside"]]
    assert problems == []


def test_formulas_render_as_mathml(served_site, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    for path in ("concepts/receptive-field/", "concepts/parameters/"):
        page.goto(served_site["url"] + path, wait_until="networkidle")
        sizes = page.evaluate("Array.from(document.querySelectorAll('article math'))"
                              ".map(m => m.getBoundingClientRect().width)")
        assert len(sizes) >= 10, path
        assert min(sizes) > 0, path  # drawn by the browser, not left as raw LaTeX text
        assert "$" not in page.locator("article").inner_text(), path
    page.close()


def site_pages(served_site) -> list[str]:
    """Every generated page of the built site, as URLs."""
    pages = ["", "comparison/", "reproduce/", "concepts/", "beyond/sweep/"]
    pages += [concept_page(concept).removesuffix(".md") + "/" for concept in CONCEPTS]
    for model in COURSE:
        pages.append(model_page(COURSE, model).removesuffix(".md") + "/")
        pages.append(step_page(COURSE, model.step).removesuffix("index.md"))
    return [served_site["url"] + p for p in dict.fromkeys(pages)]


def test_tables_fit_titles_differ_and_no_template_reaches_a_page(served_site, course_sweep):
    """At 1280 px every table fits the content column (folded details opened); every page
    has a browser title of its own; no Jinja delimiter reaches the reader."""
    titles = {}
    for url in site_pages(served_site):
        seen = course_sweep["visits"][url.removeprefix(served_site["url"]), 1280]
        assert seen["too_wide"] == [], (url, seen["too_wide"])
        assert not seen["template"], url
        assert seen["title"] not in titles, (url, titles.get(seen["title"]))
        titles[seen["title"]] = url


def test_every_figure_opens_full_size(served_site, course_sweep, browser):
    """On a phone a figure is shrunk to the column: each one is a link to its own file."""
    figures = 0
    for url in site_pages(served_site):
        seen = course_sweep["visits"][url.removeprefix(served_site["url"]), 390]
        assert seen["unlinked"] == [], (url, seen["unlinked"])
        figures += seen["figures"]
    assert figures >= 20
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(served_site["url"] + "comparison/", wait_until="load")  # a click needs layout
    image = page.locator("article figure img").first
    source = image.evaluate("i => i.src")
    with page.expect_navigation():
        image.click()
    assert page.url == source and source.endswith(".svg")
    page.close()


# Text nodes in table cells where a unit ("%", "points", "s", "min", "h") or a "±" sits on a
# line below the number it belongs to: the unit's first character is lower than the number's
# last digit.
UNITS_ON_THEIR_OWN_LINE = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.querySelector('article'),
                                           NodeFilter.SHOW_TEXT);
  const pattern = /\\d(\\s*)(%|points?\\b|±|(?:h|min|s|ms)\\b)/g;
  const box = (node, at) => { const range = document.createRange();
    range.setStart(node, at); range.setEnd(node, at + 1);
    return range.getBoundingClientRect(); };
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement.closest('td, th')) continue;
    const text = node.textContent;
    for (const match of text.matchAll(pattern)) {
      const digit = box(node, match.index);
      const unit = box(node, match.index + 1 + match[1].length);
      if (unit.top > digit.top + 2)
        found.push(text.slice(Math.max(0, match.index - 8), match.index + match[0].length));
    }
  }
  return found;
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_numbers_keep_their_unit_on_their_line(served_site, course_sweep, width):
    wrapped = {}
    for url in site_pages(served_site):
        found = course_sweep["visits"][url.removeprefix(served_site["url"]), width]["units"]
        if found:
            wrapped[url] = found
    assert wrapped == {}


# ------------------------------------------------------- a phone and a laptop, both sites

EXAMPLE = REPO / "tests" / "example_course" / "course.py"
SCREENS = {"phone": (390, 844), "laptop": (1280, 900)}
# A figure's smallest text is SMALL_TEXT points, MIN_TEXT_PX or more while the figure shows
# at this share of its natural width or more; narrower, only its enlarge cue helps.
LEGIBLE_SHARE = MIN_TEXT_PX / (SMALL_TEXT * 96 / 72)


@pytest.fixture(scope="module")
def student_site(tmp_path_factory):
    """The example course as a student's site (``mnist-course build``), from stored runs."""
    need_browser()
    import mnist_course as mc

    out = tmp_path_factory.mktemp("student") / "report"
    for model in mc.load_course(EXAMPLE):
        params = sum(p.numel() for p in model.network().parameters() if p.requires_grad)
        for seed in model.seeds:
            write_json(metrics_path(out / "results", model.id, seed),
                       fixture_record(model, seed, params))
    built = subprocess.run([sys.executable, "-m", "mnist_course", "build", "--course",
                            str(EXAMPLE), "--out", str(out), "--no-train"],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "reused" in built.stdout and "trained: 0" not in built.stderr
    site = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                           str(out / "mkdocs.yml")], capture_output=True, text=True,
                          timeout=300)
    assert site.returncode == 0, site.stderr
    with served(out / "site") as url:
        yield {"url": url, "site": out / "site"}


# What a reader would trip over on the page in view: how far the page scrolls sideways; a
# table wider than the column that is not in a box that scrolls and shows it (a shadow on
# the edge); a figure shrunk below its legible size with no enlarge cue; the notebook
# links.
READING = """() => {
  const article = document.querySelector('article');
  const scrollsWithCue = (table) => {
    for (let box = table; box && box !== article; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (['auto', 'scroll'].includes(style.overflowX))
        return style.backgroundImage.includes('gradient');
    }
    return false;
  };
  const cue = (image) => {
    const link = image.closest('a.mc-full-size');
    if (!link) return false;
    const after = getComputedStyle(link, '::after');
    return after.content !== 'none' && after.content !== 'normal' && after.display !== 'none';
  };
  return {
    sideways: document.documentElement.scrollWidth - window.innerWidth,
    unscrolled: Array.from(article.querySelectorAll('table'))
      .filter(t => t.scrollWidth > article.clientWidth + 1 && !scrollsWithCue(t))
      .map(t => t.rows[0].innerText.slice(0, 40)),
    figures: Array.from(article.querySelectorAll('img')).filter(i => i.naturalWidth > 0)
      .map(i => ({src: i.src.slice(-60), share: i.getBoundingClientRect().width / i.naturalWidth,
                  cue: cue(i), course: /\\/figures\\/[^/]+\\/[^/]+\\.svg$/.test(i.src)})),
    notebook: article.querySelector('.jupyter-wrapper') !== null,
    downloads: Array.from(article.querySelectorAll('a[download]'))
      .map(a => a.getAttribute('href')),
    colab: Array.from(article.querySelectorAll('a.mc-open-in-colab')).map(a => a.href),
  };
}"""


def reading_problems(page, base: str, path: str, repository: str | None) -> list[str]:
    """Everything on one page that a reader on this screen could not read or reach."""
    page.goto(base + path, wait_until="networkidle")
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    return problems_in_view(page, base, path, repository)


def problems_in_view(page, base: str, path: str, repository: str | None) -> list[str]:
    """:func:`reading_problems` of the page already loaded, its details opened."""
    seen = page.evaluate(READING)
    problems = [f"scrolls {seen['sideways']} px sideways"] if seen["sideways"] > 0 else []
    problems += [f"table with no scroll cue: {row}" for row in seen["unscrolled"]]
    for figure in seen["figures"]:
        if figure["share"] < LEGIBLE_SHARE and not figure["cue"]:
            problems.append(f"figure shrunk to {figure['share']:.0%} with no enlarge cue: "
                            f"{figure['src']}")
        if figure["course"] and figure["share"] < LEGIBLE_SHARE:
            problems.append(f"course figure shrunk to {figure['share']:.0%}, below its "
                            f"legible size: {figure['src']}")
    if seen["notebook"]:
        notebook = [href for href in seen["downloads"] if href.endswith(".ipynb")]
        if not notebook:
            problems.append("notebook page without a link to its .ipynb")
        for href in notebook:
            response = page.request.get(page.url + href if "/" not in href
                                        else base + href.lstrip("/"))
            if not (response.ok and "cells" in json.loads(response.body())):
                problems.append(f"{href} does not download a notebook")
        expected = colab_url(repository, "edit/master/docs/", path.rstrip("/") + ".ipynb")
        if seen["colab"] != ([expected] if expected else []):
            problems.append(f"Colab links {seen['colab']}, expected {expected}")
    return problems


# Pages whose script fetches something after the load event and draws with it: their checks
# wait for the network to go quiet. Every other page is static (system fonts, images loaded
# by the load event), so its layout is final at load.
DRAWN_AFTER_LOAD = {"try-it/"}

# Each table's first row, for the tables wider than the content column.
TOO_WIDE = """() => { const a = document.querySelector('article');
  return Array.from(a.querySelectorAll('table'))
    .filter(t => t.getBoundingClientRect().width > a.clientWidth + 1)
    .map(t => t.rows[0].innerText.slice(0, 60)); }"""

# The figures that are not a link to their own file.
UNLINKED = """Array.from(document.querySelectorAll('article img'))
  .filter(i => { const a = i.closest('a'); return !a || a.href !== i.src; })
  .map(i => i.src)"""


@pytest.fixture(scope="module")
def course_sweep(served_site, browser):
    """Every page of the built-in course visited once per screen, with everything the tests
    here ask of it, keyed by (path, width): loading each page once per width instead of once
    per check is most of this module's time saved. ``ok`` and ``broken`` (images) as loaded;
    ``errors`` (console errors, uncaught exceptions) and ``outside`` (requests to another
    host) until the page's network has been quiet for 500 ms; with its details opened,
    ``units`` wrapped below their number and ``reading`` (:func:`reading_problems`);
    ``title``, ``template`` (a Jinja delimiter in the text) and ``too_wide`` (tables) at
    1280 px; ``unlinked`` figures and their count ``figures`` at 390 px."""
    base, repository = served_site["url"], repository_of(REPO / "mkdocs.yml")
    generated = [url.removeprefix(base) for url in site_pages(served_site)]
    paths = sorted(set(built_pages(served_site["site"])) | set(generated))
    visits: dict[tuple[str, int], dict] = {}
    now: dict = {}  # the visit under way: an event lands on the page it came from

    def on_request(request) -> None:
        if not request.url.startswith((base, "data:", "blob:")):
            now["visit"]["outside"].append(request.url)

    def on_console(message) -> None:
        if message.type == "error":
            now["visit"]["errors"].append(f"console error: {message.text}")

    for width, height in SCREENS.values():
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("request", on_request)
        page.on("console", on_console)
        page.on("pageerror", lambda error: now["visit"]["errors"].append(str(error)))
        for path in paths:
            current = now["visit"] = visits[path, width] = {"outside": [], "errors": []}
            try:
                response = page.goto(base + path, wait_until="networkidle"
                                     if path in DRAWN_AFTER_LOAD else "load")
                current["ok"] = response is not None and response.ok
                current["broken"] = broken_images(page)
                if width == 390:
                    current["unlinked"] = page.evaluate(UNLINKED)
                    current["figures"] = page.locator("article img").count()
                page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
                current["units"] = page.evaluate(UNITS_ON_THEIR_OWN_LINE)
                if width == 1280:
                    current["too_wide"] = page.evaluate(TOO_WIDE)
                    text = page.inner_text("article")
                    current["template"] = "{{" in text or "{%" in text
                    current["title"] = page.title()
                current["reading"] = problems_in_view(page, base, path, repository)
                current["notebook"] = page.locator("article .jupyter-wrapper").count() > 0
                # What the page still fetches or logs after load belongs to it, not the next.
                page.wait_for_load_state("networkidle")
            except Exception as error:  # name the page the sweep stopped on
                raise AssertionError(f"/{path} at {width} px: {error}") from error
        page.close()
    return {"visits": visits}


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("which", ["course", "student"])
def test_every_page_reads_on_a_phone_and_a_laptop(request, browser, which, screen):
    """No page scrolls sideways; a wide table scrolls in its own box that shows it does;
    the course's figures show at a legible size and any figure shrunk below one has its
    enlarge cue; a notebook page downloads its .ipynb and opens in Colab exactly when the
    project names a GitHub repository; no request leaves the site."""
    width, height = SCREENS[screen]
    problems, outside, notebooks = {}, [], 0
    if which == "course":  # from the one visit per page and width that all checks share
        sweep = request.getfixturevalue("course_sweep")
        for (path, at), seen in sweep["visits"].items():
            if at != width:
                continue
            notebooks += seen["notebook"]
            outside += seen["outside"]
            if seen["reading"]:
                problems[path] = seen["reading"]
    else:
        base = request.getfixturevalue("student_site")["url"]
        repository = None  # a student's site names no repository unless its course does
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("request", lambda r: outside.append(r.url)
                if not r.url.startswith((base, "data:", "blob:")) else None)
        for path in built_pages(request.getfixturevalue("student_site")["site"]):
            found = reading_problems(page, base, path, repository)
            notebooks += page.locator("article .jupyter-wrapper").count() > 0
            if found:
                problems[path] = found
        page.close()
    assert problems == {}
    assert outside == []
    assert notebooks == (2 if which == "course" else 0)  # reuse and colab; none for a student
