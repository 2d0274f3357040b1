"""Shared test helpers: tiny IDX files, fabricated metrics records, the real MNIST folder,
MkDocs as a student runs it."""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_course.store.files import SCHEMA_VERSION
from mnist_course.training.mnist_files import IDX_MAGIC_IMAGES, IDX_MAGIC_LABELS, RAW_FILES


def write_idx(path: Path, values: bytes, shape: tuple[int, ...], magic: int) -> Path:
    """Write an uncompressed IDX file: magic, big-endian sizes, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">i", magic) + struct.pack(f">{len(shape)}i", *shape)
    path.write_bytes(header + values)
    return path


def write_tiny_mnist(root: Path, n_train: int = 20, n_test: int = 10) -> dict[str, int]:
    """A fake MNIST/raw folder with n images per split; returns the counts to verify with."""
    raw = root / "MNIST" / "raw"
    counts = {}
    for name, (_, magic) in RAW_FILES.items():
        n = n_train if name.startswith("train") else n_test
        counts[name] = n
        if magic == IDX_MAGIC_IMAGES:
            write_idx(raw / name, bytes((i * 7) % 256 for i in range(n * 784)), (n, 28, 28),
                      magic)
        else:
            write_idx(raw / name, bytes(i % 10 for i in range(n)), (n,), IDX_MAGIC_LABELS)
    return counts


def fake_record(model_id: str = "s3_final", seed: int = 0, tests: list[float] | None = None,
                params: int = 7604, epochs: int = 15, **overrides) -> dict:
    """A schema-valid metrics.json dict with the given test accuracies (percent)."""
    tests = tests or [98.0 + 0.1 * i for i in range(epochs)]
    record = {
        "schema_version": SCHEMA_VERSION, "model_id": model_id, "step": 3, "title": "x",
        "seed": seed, "params": params, "has_linear": False, "architecture": [],
        "recipe": {}, "quick_check": False, "train_subset": None, "cache_key": "k",
        "status": "complete", "failure": None,
        "epochs": [{"epoch": i + 1, "train_loss": 0.1, "train_accuracy": t - 0.2,
                    "test_loss": 0.05, "test_accuracy": t, "lr": 0.01, "seconds": 1.0}
                   for i, t in enumerate(tests)],
        "lr_trace": [[0.0, 0.01]],
        "evaluation": {"test_count": 10, "confusion_matrix": [[0] * 10 for _ in range(10)],
                       "misclassified": [{"index": 0, "label": 1, "predicted": 7,
                                          "confidence": 0.9,
                                          "pixels": base64.b64encode(bytes(784)).decode()}]},
        "provenance": {"training_seconds": 15.0, "wall_seconds": 16.0},
    }
    record.update(overrides)
    return record


# What tests share beyond their own module's fixtures, for pytest-xdist's groups: the
# session's rendered fixture site, made once by the worker that runs every test reading it
# (a test that names it, or test_browser, which asks for it by name only when Chromium is
# there).
SHARED_BY = {"test_browser.py": "fixture-site"}
FIXTURE_SITE = {"fixture_site", "fixture_site_built"}


def xdist_group(item: pytest.Item) -> str:
    """The pytest-xdist group of a test (``--dist loadgroup``, set in pyproject.toml): the
    shared group it belongs to, else its module, so one worker runs the module and makes
    its module fixtures once."""
    module = item.path.name
    if module in SHARED_BY:
        return SHARED_BY[module]
    if FIXTURE_SITE & set(getattr(item, "fixturenames", ())):
        return "fixture-site"
    return module


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end checks form one group, marked ``slow``: every test that needs real
    MNIST (through ``mnist_dir``, directly or through another fixture) and every one that
    drives Chromium. ``-m "not slow"`` leaves them out for a quick loop; README's test
    command, and so CI, runs them all. Every test also gets its :func:`xdist_group`."""
    for item in items:
        if "mnist_dir" in getattr(item, "fixturenames", ()) or item.get_closest_marker(
                "browser"):
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST folder from $MNIST_COURSE_DATA (CI points it at ../shared/data)."""
    folder = os.environ.get("MNIST_COURSE_DATA")
    if not folder or not (Path(folder) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists():
        pytest.skip("set MNIST_COURSE_DATA to a folder with MNIST/raw/ to run the training tests")
    return Path(folder)


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory):
    """The built-in course's pages rendered once per session from the fabricated runs of
    ``report_fixtures`` (every model's seeds and a candidate of each sweep; ``ROOT/results``,
    ``ROOT/docs``), shared by the report, Concepts and browser tests: a full render is one
    of the slowest steps of the suite. Tests only read it; one that needs other runs
    renders its own copy."""
    from report_fixtures import copy_docs, render, write_fixture_results, write_sweep_runs

    root = tmp_path_factory.mktemp("fixture-site")
    records = write_fixture_results(root / "results")
    write_sweep_runs(root / "results")
    docs = copy_docs(root / "docs")
    assert render(root / "results", docs) == 0
    return {"root": root, "docs": docs, "records": records}


@pytest.fixture(scope="session")
def fixture_site_built(fixture_site):
    """:func:`fixture_site` built by MkDocs (``--strict``) into ``ROOT/site``, once per
    session; ``mkdocs`` is the finished build, for its output."""
    from test_report import mkdocs_build

    root = fixture_site["root"]
    return {**fixture_site, "mkdocs": mkdocs_build(root, fixture_site["docs"]),
            "site": root / "site"}


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    """Real MNIST loaded once per test session (CPU)."""
    from mnist_course.training.data import load_mnist

    return load_mnist(mnist_dir, device="cpu", download=False)


# ------------------------------------------------------------------ MkDocs


MATERIAL_NOTICE = "Material for MkDocs reaches end of life"
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def mkdocs_build(config: Path, site: Path | None = None, cwd: Path | None = None
                 ) -> subprocess.CompletedProcess:
    """``mkdocs build --strict -f CONFIG`` as a student types it. Its environment is this
    one without NO_MKDOCS_2_WARNING, so the project's ``mkdocs.yml`` has to keep Material's
    end-of-life notice out by itself. Never ``-q``: with it MkDocs counts no warnings, and
    --strict could not fail."""
    env = {name: value for name, value in os.environ.items() if name != "NO_MKDOCS_2_WARNING"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    if site is not None:
        command += ["-d", str(site)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def mkdocs_warnings(stderr: str) -> list[str]:
    """MkDocs' own warnings: its log lines at level WARNING (not a theme's notice)."""
    return [line for line in _COLOUR.sub("", stderr).splitlines()
            if line.startswith("WARNING")]


def assert_builds_clean(done: subprocess.CompletedProcess) -> None:
    """A build of :func:`mkdocs_build` passed strict, with no MkDocs warning and no notice
    from Material in the student's way."""
    assert done.returncode == 0, done.stderr
    assert mkdocs_warnings(done.stderr) == [], done.stderr
    assert MATERIAL_NOTICE not in done.stderr, done.stderr


class _MkDocsYamlLoader(yaml.SafeLoader):
    """Reads ``mkdocs.yml`` safely: a ``!!python/name:X`` tag is read as the text X, not
    imported."""


_MkDocsYamlLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/name:", lambda loader, suffix, node: suffix)


def read_mkdocs_yml(path: Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=_MkDocsYamlLoader)
