"""The package's layout: folders by concern, each importing only the layers below it."""

import ast
from pathlib import Path

import mnist_course as mc

PACKAGE = Path(mc.__file__).resolve().parent
TOP_LEVEL_LIMIT = 12

# What each folder must not import (module-level or inside a function): the layers above
# it. The folders' own docstrings say the same in words.
FORBIDDEN = {
    "models": {"architecture", "training", "store", "pipeline", "report"},
    "course": {"architecture", "training", "store", "pipeline", "report"},
    "architecture": {"training", "store", "pipeline", "report"},
    "training": {"pipeline", "report"},
    "store": {"architecture", "training", "pipeline", "report"},
    "report": {"architecture", "pipeline", "training"},
}
# The one torch-free module of training the report reads: MNIST's image counts.
REPORT_MAY_READ = {"mnist_course.training.mnist_files"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_only: bool) -> set[str]:
    """The mnist_course modules ``path`` imports (all of them, or only those at its top)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:  # "from mnist_course.store import runs" names a module
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_the_top_level_holds_at_most_twelve_modules():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= TOP_LEVEL_LIMIT, top


def test_every_folder_says_what_it_owns_and_may_import():
    for folder in sorted(p.parent for p in PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
        assert "import" in doc and len(doc.split()) >= 30, f"{folder.name}: {doc!r}"


def test_no_folder_imports_a_layer_above_it():
    wrong = []
    for name, path in MODULES.items():
        folder = name.split(".")[1] if name.count(".") >= 1 else ""
        for target in imports(path, top_only=False):
            above = target.split(".")[1] if target.count(".") >= 1 else ""
            if above in FORBIDDEN.get(folder, ()) and not (
                    folder == "report" and target in REPORT_MAY_READ):
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_no_import_cycle_between_modules():
    graph = {name: imports(path, top_only=True) - {name} for name, path in MODULES.items()}
    done, on_path = set(), []

    def visit(name: str) -> None:
        if name in on_path:
            raise AssertionError(" -> ".join(on_path[on_path.index(name):] + [name]))
        if name in done:
            return
        on_path.append(name)
        for target in sorted(graph[name]):
            # importing mnist_course.x.y runs the package mnist_course.x first: a module
            # importing its own package's __init__ is how packages work, not a cycle
            if not name.startswith(target + "."):
                visit(target)
        on_path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_paths_students_use_keep_working():
    from mnist_course.architecture.receptive_field import receptive_field as measured
    from mnist_course.check import static_findings
    from mnist_course.receptive_field import receptive_field

    assert receptive_field is measured
    assert callable(static_findings)
    assert callable(mc.build) and mc.build.__module__ == "mnist_course.pipeline.python_api"
    assert mc.Course.__module__ == "mnist_course.course.definition"
