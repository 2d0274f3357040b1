"""A ``--no-train`` build needs no torch: it renders the committed runs where torch cannot be
imported at all (a meta-path finder on PYTHONPATH makes every ``import torch`` fail)."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HIDE_TORCH = '''
import sys


class HideTorch:
    """Refuse torch and torchvision, as on a machine where they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ImportError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, HideTorch())
'''


def _differing(left: Path, right: Path) -> list[str]:
    compared = filecmp.dircmp(left, right)
    found = [str(Path(left, name)) for name in
             compared.diff_files + compared.left_only + compared.right_only]
    for name in compared.common_dirs:
        found += _differing(left / name, right / name)
    return found


def _render(docs: Path, env: dict) -> subprocess.CompletedProcess:
    """The committed runs rendered into a copy of the committed pages. The runs are read from
    a copy too: a render locks the folder it reads, and the repository is not the tests' to
    write in."""
    shutil.copytree(REPO / "docs", docs)
    # named results/ as in the repository: the pages' headers name the folder they read
    results = shutil.copytree(REPO / "results", docs.with_name(f"{docs.name}-runs") / "results")
    return subprocess.run([sys.executable, str(REPO / "scripts" / "build_report.py"),
                           "--no-train", "--results-dir", str(results),
                           "--docs-dir", str(docs)], env=env, capture_output=True, text=True,
                          cwd=REPO)


def test_no_train_build_renders_the_committed_runs_without_torch(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TORCH)
    with_torch = {**os.environ, "PYTHONPATH": str(REPO)}
    without = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=without,
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    done = _render(tmp_path / "without", without)
    assert done.returncode == 0, done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert " 0 trained" in summary and " 0 failed" in summary, summary
    reference = _render(tmp_path / "with", with_torch)
    assert reference.returncode == 0, reference.stderr
    assert reference.stdout.strip().splitlines()[-1].split(": ", 1)[1] == summary.split(": ", 1)[1]
    # The same pages and figures, byte for byte, as a build that could import torch.
    assert _differing(tmp_path / "with", tmp_path / "without") == []
