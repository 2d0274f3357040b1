"""The Colab notebook and the notebook pages' links: where Colab opens a notebook, what the
notebook does in a fresh runtime, the starter's copy, and the links MkDocs puts on a
notebook's page with and without a public repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import mkdocs_build, mkdocs_warnings

from mnist_course.report.colab import (
    COLAB_NOTEBOOK,
    colab_url,
    notebook_text,
    repository_of,
    training_notebook,
)

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "mnist_course" / "report" / "theme"


@pytest.mark.parametrize(("repo_url", "edit_uri", "expected"), [
    ("https://github.com/teacher/mnist_course", "edit/main/docs/",
     "https://colab.research.google.com/github/teacher/mnist_course/blob/main/docs/colab.ipynb"),
    ("https://github.com/teacher/mnist_course.git/", None,  # MkDocs' default edit_uri
     "https://colab.research.google.com/github/teacher/mnist_course/blob/master/docs/colab.ipynb"),
    ("https://github.com/me/homework", "blob/spring/site/docs",
     "https://colab.research.google.com/github/me/homework/blob/spring/site/docs/colab.ipynb"),
    ("https://github.com/me/homework", "",  # no edit links: the usual branch and folder
     "https://colab.research.google.com/github/me/homework/blob/main/docs/colab.ipynb"),
])
def test_colab_opens_the_notebook_of_a_github_repository(repo_url, edit_uri, expected):
    assert colab_url(repo_url, edit_uri, COLAB_NOTEBOOK) == expected


@pytest.mark.parametrize("repo_url", [None, "", "https://gitlab.com/me/homework",
                                      "https://github.com/me", "ftp://github.com/me/x"])
def test_no_colab_link_without_a_github_repository(repo_url):
    assert colab_url(repo_url, "edit/main/docs/", COLAB_NOTEBOOK) is None


def test_the_repository_comes_from_mkdocs_yml(tmp_path):
    config = tmp_path / "mkdocs.yml"
    assert repository_of(config) is None  # no file
    config.write_text("site_name: x\nrepo_url: 'https://github.com/me/homework'  # mine\n")
    assert repository_of(config) == "https://github.com/me/homework"
    config.write_text("site_name: x\n# repo_url: https://github.com/me/homework\n")
    assert repository_of(config) is None
    assert repository_of(ROOT / "mkdocs.yml") is None  # the project names none (yet)


def code_cells(notebook: dict) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def as_python(cell: str) -> str:
    """A cell as the Python IPython runs (``%pip`` lines become calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


@pytest.mark.parametrize("own_course", [False, True])
def test_the_notebook_installs_picks_the_gpu_downloads_trains_and_checks(own_course):
    import nbformat

    repository = "https://github.com/teacher/mnist_course"
    notebook = training_notebook("MNIST in three steps", repository, own_course=own_course)
    nbformat.validate(nbformat.from_dict(notebook))
    cells = code_cells(notebook)
    for cell in cells:
        compile(as_python(cell), "<cell>", "exec")  # every cell is valid Python
    install, course, device, data, train, check = cells
    assert json.dumps(repository) in install and '%pip install --quiet "git+{REPOSITORY}"' \
        in install
    assert 'find_spec("mnist_course") is None' in install  # installed once per runtime
    assert ("load_course" in course) == own_course
    assert ("from mnist_course.models import COURSE" in course) != own_course
    assert "torch.cuda.is_available()" in device and "Change runtime type" in device
    assert "download=True" in data and "device=DEVICE" in data
    assert "COURSE.get(COURSE.final)" in train and "on_epoch=show" in train
    assert "mc.check_requirements(run)" in check
    assert notebook["metadata"]["accelerator"] == "GPU"
    assert all(cell.get("outputs", []) == [] for cell in notebook["cells"])


def test_without_a_repository_the_install_cell_asks_for_it():
    install = code_cells(training_notebook("x", None, own_course=True))[0]
    assert 'REPOSITORY = ""' in install
    assert "Set REPOSITORY above to the Git URL" in install


def test_the_sites_colab_notebook_is_current():
    """docs/colab.ipynb is what the build writes for the built-in course and mkdocs.yml."""
    from mnist_course.models import COURSE

    expected = notebook_text(training_notebook(COURSE.title, repository_of(ROOT / "mkdocs.yml"),
                                               own_course=False))
    assert (ROOT / "docs" / COLAB_NOTEBOOK).read_text(encoding="utf-8") == expected


def test_the_starter_gets_its_own_colab_notebook(tmp_path, capsys):
    from mnist_course.pipeline.starter import write_starter

    assert write_starter(tmp_path / "mine") == 0
    notebook = json.loads((tmp_path / "mine" / COLAB_NOTEBOOK).read_text(encoding="utf-8"))
    course = code_cells(notebook)[1]
    assert 'COURSE_FILE = Path("course.py")' in course and "mc.load_course" in course
    assert COLAB_NOTEBOOK in (tmp_path / "mine" / "README.md").read_text(encoding="utf-8")
    assert COLAB_NOTEBOOK in capsys.readouterr().out


def build_notebook_site(root: Path, repo_lines: str) -> str:
    """A one-notebook MkDocs site with the course's theme; returns the notebook page."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    (docs / "index.md").write_text("# Home\n")
    (docs / COLAB_NOTEBOOK).write_text(notebook_text(training_notebook("x", None, True)))
    (root / "mkdocs.yml").write_text(
        "site_name: Notebook links\n" + repo_lines
        + f"theme:\n  name: material\n  custom_dir: {THEME}\n  font: false\n"
        "plugins:\n  - mkdocs-jupyter:\n      include_source: true\n"
        f"nav:\n  - Home: index.md\n  - Colab: {COLAB_NOTEBOOK}\n")
    built = mkdocs_build(root / "mkdocs.yml", cwd=root)
    assert built.returncode == 0, built.stderr
    assert mkdocs_warnings(built.stderr) == [], built.stderr
    assert (root / "site" / "colab" / COLAB_NOTEBOOK).is_file()  # the download's target
    return (root / "site" / "colab" / "index.html").read_text(encoding="utf-8")


def test_a_notebook_page_links_its_file_and_colab_only_with_a_repository(tmp_path):
    repo = "https://github.com/me/homework"
    with_repo = build_notebook_site(tmp_path / "github",
                                    f"repo_url: {repo}\nedit_uri: edit/main/docs/\n")
    without = build_notebook_site(tmp_path / "none", "")
    for page in (with_repo, without):
        # The page's own folder holds the file (mkdocs-jupyter's include_source).
        assert f'href="{COLAB_NOTEBOOK}" download="{COLAB_NOTEBOOK}"' in page
    assert f'href="{colab_url(repo, "edit/main/docs/", COLAB_NOTEBOOK)}"' in with_repo
    assert "Open in Colab" in with_repo
    assert "Open in Colab" not in without and "colab.research.google.com" not in without


def test_the_course_title_is_escaped_in_the_notebook():
    intro = "".join(training_notebook("<script>alert(1)</script>", None, True)["cells"][0]
                    ["source"])
    assert "<script>" not in intro and "&lt;script&gt;alert(1)&lt;/script&gt;" in intro
