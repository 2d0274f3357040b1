"""The Colab notebook: trains a course's final model on Colab's GPU, from a fresh runtime.

Students do this assignment in Colab, where the project is not installed, MNIST is not on
disk and the GPU must be asked for. The notebook does each of those in a cell of its own,
then trains the final model epoch by epoch and runs the requirement check on the run.

The built-in course's copy is ``docs/colab.ipynb`` (written by the site's build); a starter
from ``mnist-course new`` gets one beside its ``course.py``. Where the project's public
repository is known, its Git URL is written into the install cell, and the pages show an
"Open in Colab" link for the notebook (the theme's ``main.html``; :func:`colab_url` is the
same rule in Python). Torch-free: the notebook is JSON, written, never run here.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from mnist_course.assignment import ACCURACY_BAR, LAST_EPOCHS, MAX_EPOCHS, PARAM_BUDGET

COLAB_NOTEBOOK = "colab.ipynb"
COLAB_GITHUB = "https://colab.research.google.com/github/"
_GITHUB_REPOSITORY = re.compile(r"^https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?$")


def colab_url(repo_url: str | None, edit_uri: str | None, notebook: str) -> str | None:
    """Where Colab opens ``notebook`` (a path below the docs folder) of a GitHub repository.

    ``repo_url`` and ``edit_uri`` are MkDocs' settings: ``edit_uri`` (``edit/main/docs/``,
    MkDocs' default for GitHub being ``edit/master/docs/``) names the branch and the docs
    folder inside the repository. None when the repository is not on GitHub (Colab opens
    notebooks from GitHub only) or is not known at all.
    """
    match = _GITHUB_REPOSITORY.match(repo_url or "")
    if match is None:
        return None
    parts = [part for part in (edit_uri if edit_uri is not None
                               else "edit/master/docs/").split("/") if part]
    branch, folder = (parts[1], parts[2:]) if len(parts) >= 2 and parts[0] in (
        "edit", "blob", "tree") else ("main", ["docs"])
    return COLAB_GITHUB + "/".join([match.group(1), "blob", branch, *folder, notebook])


def repository_of(mkdocs_yml: Path) -> str | None:
    """The ``repo_url`` a ``mkdocs.yml`` sets, or None (no file, no setting)."""
    if not Path(mkdocs_yml).is_file():
        return None
    match = re.search(r"^repo_url:\s*['\"]?([^'\"\s#]+)", Path(mkdocs_yml).read_text("utf-8"),
                      re.MULTILINE)
    return match.group(1) if match else None


def _cell(kind: str, text: str) -> dict:
    cell = {"cell_type": kind, "metadata": {}, "source": text.strip("\n").splitlines(True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


_INSTALL = '''
# Colab has torch and a GPU but not this project: install it once per runtime.
import importlib.util

REPOSITORY = {repository}  # the project's Git URL (the one its README was cloned from)
if importlib.util.find_spec("mnist_course") is None:
    if not REPOSITORY:
        raise SystemExit("Set REPOSITORY above to the Git URL of the mnist_course project, "
                         "then run this cell again.")
    %pip install --quiet "git+{{REPOSITORY}}"
'''

_BUILTIN_COURSE = '''
import mnist_course as mc
from mnist_course.models import COURSE  # the course this site is made from
'''

_OWN_COURSE = '''
from pathlib import Path

import mnist_course as mc

COURSE_FILE = Path("course.py")  # your course: upload it beside this notebook (Files, left)
if not COURSE_FILE.exists():
    raise SystemExit(f"{COURSE_FILE} is not here: upload it in the Files panel on the left, "
                     "then run this cell again.")
COURSE = mc.load_course(COURSE_FILE)
'''

_DEVICE = '''
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cuda":
    print(f"training on {torch.cuda.get_device_name(0)}")
else:
    print("No GPU in this runtime: Runtime > Change runtime type > a GPU, then run the "
          "notebook again (on Colab's CPU an epoch takes minutes).")
'''

_DATA = '''
# Read from ./data, and downloaded there first when it is not (about 12 MB).
data = mc.load_mnist("data", device=DEVICE, download=True)
print(f"{len(data.train_labels):,} training and {len(data.test_labels):,} test images")
'''

_TRAIN = '''
final = COURSE.get(COURSE.final)
SEED = 0
torch.manual_seed(SEED)
network = final.network()


def show(epoch: dict) -> None:
    print(f"epoch {epoch['epoch']:>2}: train {epoch['train_accuracy']:.2f} %, "
          f"test {epoch['test_accuracy']:.2f} % ({epoch['seconds']:.1f} s)")


print(f"{final.id}: {final.title}")
records, lr_trace = mc.fit(network, final.recipe, data, seed=SEED, progress=False,
                           on_epoch=show)
'''

_CHECK = '''
run = {"params": sum(p.numel() for p in network.parameters() if p.requires_grad),
       "has_linear": any(isinstance(m, torch.nn.Linear) for m in network.modules()),
       "epochs": records, "quick_check": False, "status": "complete"}
for requirement in mc.check_requirements(run):
    print(f"{'PASS' if requirement.passed else 'FAIL'}  {requirement.name}: "
          f"{requirement.measured}")
'''


def training_notebook(course_title: str, repository: str | None, own_course: bool) -> dict:
    """The Colab notebook (nbformat 4, as a dict) that trains the final model of a course:
    the built-in one (``own_course`` False) or the one in a ``course.py`` beside it.
    ``repository`` is the project's Git URL, written into the install cell (empty when not
    known: the cell then asks for it)."""
    where = ("your `course.py`, which you upload beside the notebook" if own_course
             else "this site's course")
    intro = f"""
# Train the final model on Colab's GPU

The final model of *{html.escape(course_title)}* ({where}), trained here from a fresh Colab runtime:
install the project, pick the GPU, download MNIST when it is missing, train for the recipe's
epochs (each printed as it ends) and check the run against the assignment: fully
convolutional, fewer than {PARAM_BUDGET:,} parameters, at most {MAX_EPOCHS} epochs, and at
least {ACCURACY_BAR:.2f} % test accuracy in each of the last {LAST_EPOCHS} epochs.

In Colab, first choose a GPU: *Runtime > Change runtime type*. Then *Runtime > Run all*.
"""
    cells = [
        _cell("markdown", intro),
        _cell("markdown", "## Install the project"),
        _cell("code", _INSTALL.format(repository=json.dumps(repository or ""))),
        _cell("markdown", "## The course" + ("" if not own_course else
                                              " in your `course.py`")),
        _cell("code", _OWN_COURSE if own_course else _BUILTIN_COURSE),
        _cell("markdown", "## The GPU"),
        _cell("code", _DEVICE),
        _cell("markdown", "## MNIST"),
        _cell("code", _DATA),
        _cell("markdown", "## Train, epoch by epoch"),
        _cell("code", _TRAIN),
        _cell("markdown", "## The requirement check\n\nOne seed's run: the course checks "
                          "several seeds, so that one lucky run does not decide."),
        _cell("code", _CHECK),
    ]
    return {"cells": cells, "metadata": {
        "accelerator": "GPU", "colab": {"provenance": []},
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 4}


def notebook_text(notebook: dict) -> str:
    """The notebook as its file holds it: JSON indented as Jupyter writes it."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


__all__ = ["COLAB_NOTEBOOK", "colab_url", "notebook_text", "repository_of",
           "training_notebook"]
