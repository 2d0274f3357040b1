"""The results store: where each run's files live, and reading/writing them safely.

Layout::

    <results-dir>/<model_id>/seed-<n>/metrics.json   # the run's record (this module's schema)
    <results-dir>/<model_id>/seed-<n>/weights.pt     # trained weights (state_dict only)
    <results-dir>/<model_id>/seed-<n>/checkpoint.pt  # only while a run is unfinished
    <results-dir>/<model_id>/architecture.json       # receptive field + layer summary

Writes are atomic (temporary file + rename), so a killed process never leaves a file
that looks complete. Reading validates the schema and names the file when it is bad.
This module does not import torch at import time: the report layer uses it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mnist_course.errors import ResultsError

SCHEMA_VERSION = 1
RESULTS_DIR_ENV = "MNIST_COURSE_RESULTS"
DEFAULT_RESULTS_DIR = Path("results")

# Fields every metrics.json must carry, and those every per-epoch record must carry.
REQUIRED_FIELDS = (
    "schema_version", "model_id", "seed", "params", "status", "recipe", "epochs",
    "provenance", "cache_key", "quick_check",
)
EPOCH_FIELDS = (
    "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds",
)


def resolve_results_dir(option: str | os.PathLike | None = None) -> Path:
    """``--results-dir``, else ``$MNIST_COURSE_RESULTS``, else ``./results``."""
    if option:
        return Path(option)
    if os.environ.get(RESULTS_DIR_ENV):
        return Path(os.environ[RESULTS_DIR_ENV])
    return DEFAULT_RESULTS_DIR


def run_dir(results_dir: Path, model_id: str, seed: int) -> Path:
    return Path(results_dir) / model_id / f"seed-{seed}"


def metrics_path(results_dir: Path, model_id: str, seed: int) -> Path:
    return run_dir(results_dir, model_id, seed) / "metrics.json"


def weights_path(results_dir: Path, model_id: str, seed: int) -> Path:
    return run_dir(results_dir, model_id, seed) / "weights.pt"


def checkpoint_path(results_dir: Path, model_id: str, seed: int) -> Path:
    return run_dir(results_dir, model_id, seed) / "checkpoint.pt"


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and pages are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(data: Any) -> str:
    """The one JSON style of the project: sorted keys, 1-space indent, newline at the end,
    so unchanged data gives byte-identical files."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, dump_json(data).encode("utf-8"))


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing, truncated or non-JSON file is a :class:`ResultsError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path} cannot be read ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); it is truncated or was "
            "edited by hand: delete it to retrain that run"
        ) from None


def validate_metrics(data: Any, path: Path | str = "metrics.json") -> dict:
    """Check a metrics record against the schema; return it or raise :class:`ResultsError`."""
    if not isinstance(data, dict):
        raise ResultsError(f"{path} does not hold a JSON object; delete it to retrain that run")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path} has schema_version {version!r}, this version of mnist_course reads "
            f"{SCHEMA_VERSION}; delete it to retrain that run"
        )
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise ResultsError(
            f"{path} lacks {', '.join(missing)}; delete it to retrain that run"
        )
    if not isinstance(data["epochs"], list):
        raise ResultsError(f"{path}: 'epochs' is not a list; delete it to retrain that run")
    for index, record in enumerate(data["epochs"]):
        absent = [name for name in EPOCH_FIELDS if name not in record] if isinstance(
            record, dict) else list(EPOCH_FIELDS)
        if absent:
            raise ResultsError(
                f"{path}: epoch record {index + 1} lacks {', '.join(absent)}; delete it to "
                "retrain that run"
            )
    if data["status"] == "complete" and not data["epochs"]:
        raise ResultsError(f"{path} says complete but has no epochs; delete it to retrain")
    return data


def load_metrics(path: Path) -> dict:
    """Read and validate one metrics.json."""
    return validate_metrics(read_json(path), path)


BUILDS_FILE = "course_build.json"


def read_builds(results_dir: Path) -> list[dict]:
    """The builds that trained runs, oldest first (``course_build.json``); [] if none or
    unreadable: the file only annotates the site, it never decides what is trained."""
    path = Path(results_dir) / BUILDS_FILE
    if not path.exists():
        return []
    try:
        data = read_json(path)
    except ResultsError:
        return []
    builds = data.get("builds") if isinstance(data, dict) else None
    return [b for b in builds if isinstance(b, dict)] if isinstance(builds, list) else []


def record_build(results_dir: Path, build: dict) -> None:
    """Add or update one training build in ``course_build.json`` (matched by its
    ``started_at``), so a build that is killed halfway still leaves its record so far."""
    builds = [b for b in read_builds(results_dir) if b.get("started_at") != build.get("started_at")]
    write_json(Path(results_dir) / BUILDS_FILE, {"schema_version": SCHEMA_VERSION,
                                                 "builds": builds + [build]})


def save_weights(state_dict: dict, path: Path) -> None:
    """Save a state_dict atomically (tensors only, so it loads with ``weights_only``)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_weights(path: Path, map_location: str = "cpu") -> dict:
    """Load weights with ``torch.load(..., weights_only=True)``: a file that carries a
    pickle payload (code to run) is refused, never executed."""
    import pickle

    import torch

    path = Path(path)
    if not path.exists():
        raise ResultsError(f"weights file {path} does not exist; train the model first")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise ResultsError(
            f"refusing {path}: it is not a plain weights file ({first[:120]}); only load "
            "weights from people you trust, and re-train to get your own"
        ) from None
    except Exception as exc:  # noqa: BLE001 - damaged bytes fail in any of the unpickler's ways
        raise ResultsError(f"{path} is not a readable weights file ({exc}); delete it to "
                           "retrain that run") from None


class ResultsLock:
    """An exclusive lock on a results folder, so two builds cannot write it at once.

    The lock is a file created with ``O_EXCL`` holding the owner's pid. A lock whose
    process no longer exists (a build that was killed) is stale and taken over.
    """

    def __init__(self, results_dir: Path, name: str = ".build.lock"):
        self.path = Path(results_dir) / name

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else
            return True
        return True

    def acquire(self) -> None:
        from mnist_course.errors import CourseError

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != os.getpid() and self._alive(owner):
                    raise CourseError(
                        f"another build is running on {self.path.parent} (pid {owner}); wait "
                        f"for it to finish, or delete {self.path} if that process is gone"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(f"{os.getpid()}\n")
            return
        raise CourseError(f"could not take the lock {self.path}; delete it and try again")

    def release(self) -> None:
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ResultsLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
