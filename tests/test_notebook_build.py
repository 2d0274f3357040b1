"""A course whose classes live in notebook cells, built with ``mc.build`` in a real Jupyter
kernel (nbclient, ipykernel's python3): it trains in the kernel's own process, keys its
runs on the cells' source like a file's, and writes the site and the write-up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import assert_builds_clean, mkdocs_build
from torch import nn

import mnist_course as mc
from mnist_course.errors import UsageError

REPO = Path(__file__).resolve().parent.parent

SETUP = '''
import json
from torch import nn
import mnist_course as mc
print(mc.__file__)
'''

NETWORK = '''
class NbNet(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(width, 10, 3), nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.body(x).flatten(1)


class Wider(NbNet):
    def __init__(self):
        super().__init__(width=6)
'''

COURSE = '''
COURSE = mc.Course(title="My notebook course", models=[
    mc.CourseModel("nbnet", step=1, title="A notebook network", target="Train from a cell.",
                   recipe=mc.Recipe(epochs=1), build=NbNet,
                   analysis="{{ m.params|count }} parameters, {{ m.final_test|pct }}."),
    mc.CourseModel("wider", step=2, title="Wider", target="Six channels.", previous="nbnet",
                   recipe=mc.Recipe(epochs=1), build=Wider,
                   analysis="{{ m.params|count }} parameters."),
])
'''


def build_cell(name: str) -> str:
    return (f"{name} = mc.build(COURSE, OUT, epochs=1, train_subset=500, data_dir=DATA, "
            "jobs=2)\n"
            f"print({name})\n"
            f"print('SUMMARY ' + json.dumps({{'trained': {name}.trained, 'reused': "
            f"{name}.reused, 'failed': {name}.failed, 'writeup': str({name}.writeup), "
            f"'mkdocs': str({name}.mkdocs_yml), 'ok': {name}.ok}}))\n")


# The same class edited in a later cell: only the model built from it trains again.
EDITED = NETWORK.replace("nn.ReLU(), nn.MaxPool2d(2)", "nn.ReLU(), nn.MaxPool2d(2, 2)")


def summaries(notebook) -> list[dict]:
    texts = [output.get("text", "") for cell in notebook.cells
             for output in cell.get("outputs", []) if output.get("name") == "stdout"]
    return [json.loads(line.removeprefix("SUMMARY ")) for text in texts
            for line in text.splitlines() if line.startswith("SUMMARY ")]


@pytest.fixture(scope="module")
def executed(tmp_path_factory, mnist_dir):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    root = tmp_path_factory.mktemp("notebook")
    out = root / "report"
    cells = [SETUP, f"OUT = {str(out)!r}\nDATA = {str(mnist_dir)!r}", NETWORK, COURSE,
             build_cell("first"), build_cell("again"), EDITED, COURSE, build_cell("edited")]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = root / "course.ipynb"
    nbformat.write(notebook, str(path))
    # The kernel is another process: it imports mnist_course from this checkout.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(root)}}).execute()
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    return {"notebook": notebook, "out": out, "summaries": summaries(notebook)}


def test_the_kernel_runs_this_checkout(executed):
    first_output = executed["notebook"].cells[0].outputs[0]["text"]
    assert first_output.strip() == str(REPO / "mnist_course" / "__init__.py")


def test_a_notebook_course_trains_in_the_kernel_and_writes_its_site(executed):
    out, (first, again, edited) = executed["out"], executed["summaries"]
    assert first["ok"] and first["failed"] == []
    assert sorted(first["trained"]) == ["nbnet seed 0", "wider seed 0"]
    assert first["writeup"] == str(out / "WRITEUP-preview.md")
    assert first["mkdocs"] == str(out / "mkdocs.yml")
    record = json.loads((out / "results-preview" / "nbnet" / "seed-0" / "metrics.json")
                        .read_text())
    assert record["status"] == "complete" and record["train_subset"] == 500
    # Keyed on the cell's source, as a file's class would be (its name, not __main__).
    source = record["architecture"][0]["source"]
    assert "# NbNet\nclass NbNet(nn.Module):" in source and "__main__" not in source
    wider = json.loads((out / "results-preview" / "wider" / "seed-0" / "metrics.json")
                       .read_text())["architecture"][0]["source"]
    assert "class Wider(NbNet):" in wider and "class NbNet(nn.Module):" in wider
    writeup = (out / "WRITEUP-preview.md").read_text()
    accuracy = record["epochs"][-1]["test_accuracy"]
    assert f"{accuracy:.2f} %" in writeup and "A notebook network" in writeup
    assert "Not written yet" not in writeup and not (out / "WRITEUP.md").exists()
    page = (out / "docs" / "step-1" / "nbnet.md").read_text()
    assert f"{accuracy:.2f} %" in page and "class NbNet(nn.Module):" in page
    # Built again unchanged: reused. The class edited in a later cell: it, and the class
    # built on it, train again.
    assert again["trained"] == [] and sorted(again["reused"]) == sorted(first["trained"])
    assert sorted(edited["trained"]) == ["nbnet seed 0", "wider seed 0"]


def test_the_notebook_project_builds_strict(executed, tmp_path):
    assert_builds_clean(mkdocs_build(executed["out"] / "mkdocs.yml", tmp_path / "site"))
    assert (tmp_path / "site" / "step-1" / "nbnet" / "index.html").exists()


def test_a_class_whose_source_cannot_be_read_is_the_first_error(tmp_path):
    made = type("Generated", (nn.Module,), {})  # no source anywhere
    course = mc.Course(title="T", models=[
        mc.CourseModel("gen", step=1, title="Generated", target="x", recipe=mc.Recipe(),
                       analysis="{{ nonsense }}", build=made)])
    with pytest.raises(UsageError) as error:
        mc.build(course, tmp_path / "out", no_train=True)
    message = str(error.value)
    assert message.startswith("course model gen: cannot read the source of Generated")
    assert "\n" not in message and not (tmp_path / "out").exists()


def test_bad_keyword_arguments_are_one_line(tmp_path):
    course = mc.load_course(REPO / "tests" / "example_course" / "course.py")
    for kwargs, message in [({"epochs": 0}, "epochs= takes a whole number >= 1"),
                            ({"seeds": (-1,)}, "seeds= takes whole numbers >= 0"),
                            ({"only": "nope"}, "unknown model id 'nope'"),
                            ({"no_train": True, "retrain": True}, "contradict")]:
        with pytest.raises(UsageError, match=message):
            mc.build(course, tmp_path / "out", **kwargs)


class FailsWhileTraining(nn.Module):
    """Passes every check made in eval mode; its first training step raises."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 28)

    def forward(self, x):
        if self.training:
            raise RuntimeError("broken in training")
        return self.conv(x).flatten(1)


def test_a_run_that_fails_in_process_is_one_line_and_the_build_goes_on(tmp_path, mnist_dir,
                                                                       capsys):
    recipe = mc.Recipe(epochs=1)
    course = mc.Course(title="Failing", models=[
        mc.CourseModel("bad", step=1, title="Bad", target="x", recipe=recipe,
                       analysis="{{ m.params|count }}", build=FailsWhileTraining)])
    summary = mc.build(course, tmp_path / "out", epochs=1, train_subset=100,
                       data_dir=mnist_dir, progress=False)
    assert summary.failed == ("bad seed 0",) and not summary.ok and summary.trained == ()
    assert "failed: bad seed 0" in str(summary)
    assert summary.writeup.exists() and summary.mkdocs_yml.exists()
    line = next(line for line in capsys.readouterr().out.splitlines() if "FAILED" in line)
    assert line.endswith("test_notebook_build.py:"
                         f"{FailsWhileTraining.forward.__code__.co_firstlineno + 2}: "
                         "RuntimeError: broken in training"), line
