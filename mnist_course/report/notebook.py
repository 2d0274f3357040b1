"""The reuse notebook: executed for real, and only again when its cells or the engine change.

A hash of the source cells and the engine version is stored in the notebook's metadata
after execution; when it still matches, the stored outputs belong to these cells and this
engine (its training run gives the same numbers), and nothing is run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from mnist_course.course.recipe import ENGINE_VERSION
from mnist_course.store.files import atomic_write_bytes

METADATA_KEY = "mnist_course"


def source_hash(notebook: dict) -> str:
    cells = [[cell["cell_type"], "".join(cell["source"]) if isinstance(cell["source"], list)
              else cell["source"]] for cell in notebook["cells"]]
    return hashlib.sha256(json.dumps([ENGINE_VERSION, cells]).encode("utf-8")).hexdigest()[:16]


def notebook_is_stale(path: Path) -> bool:
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    stored = notebook.metadata.get(METADATA_KEY, {}).get("source_hash")
    return stored != source_hash(notebook)


def execute_notebook(path: Path, data_dir: Path, timeout: int = 600) -> None:
    """Run every cell in a fresh kernel (cwd: the notebook's folder) and store the outputs."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(str(path), as_version=4)
    previous = os.environ.get("MNIST_COURSE_DATA")
    os.environ["MNIST_COURSE_DATA"] = str(Path(data_dir).resolve())  # the kernel inherits it
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(Path(path).parent)}}).execute()
    finally:
        if previous is None:
            os.environ.pop("MNIST_COURSE_DATA", None)
        else:
            os.environ["MNIST_COURSE_DATA"] = previous
    notebook.metadata[METADATA_KEY] = {"source_hash": source_hash(notebook)}
    atomic_write_bytes(path, (nbformat.writes(notebook) + "\n").encode("utf-8"))
