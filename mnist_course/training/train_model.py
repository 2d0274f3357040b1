"""Running a course model: one seed of one model trained by the engine into the results
store, with its checkpoint, provenance and ``metrics.json``.

:func:`run_course_model` wraps :func:`mnist_course.training.engine.fit` for the course: it keys the
checkpoint with the run's identity (:func:`mnist_course.store.runs.run_key`), so a killed run
resumes exactly where it stopped and a checkpoint of another configuration is never
resumed; it records where and how the run trained (git commit, torch, device, threads),
refuses to let a quick check overwrite a full run, and writes ``metrics.json`` last, so
its presence means the run is complete.
"""

from __future__ import annotations

import base64
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

import mnist_course.store.files as store
from mnist_course.course.student_code import where_in_student_code
from mnist_course.errors import CourseError, DivergedError, ResultsError, UsageError
from mnist_course.models.network import count_parameters, has_linear_layer
from mnist_course.store.runs import Preview, run_key, run_recipe
from mnist_course.training.data import MNISTData
from mnist_course.training.device import compute_provenance, device_name, pick_device
from mnist_course.training.engine import evaluate, fit


class StoredCheckpoint:
    """The engine's :class:`~mnist_course.training.engine.Checkpoint` in the results store: the
    state in ``checkpoint.pt`` (written atomically), the run's key beside it in
    ``checkpoint.key``. A checkpoint whose key is not this run's is deleted, never resumed."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key_path, self.key = Path(path), Path(path).with_suffix(".key"), key
        if self.path.exists() and (not self.key_path.exists()
                                   or self.key_path.read_text().strip() != key):
            self.path.unlink()  # a checkpoint of another configuration must not be resumed
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key_path.write_text(key + "\n")

    def load(self, device: torch.device) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        return store.load_weights(self.path, map_location=str(device))

    def save(self, payload: dict[str, Any]) -> None:
        store.save_weights(payload, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.key_path.unlink(missing_ok=True)


def git_commit() -> str | None:
    """The commit of the working tree this package runs from, with '+dirty' when edited."""
    here = Path(__file__).resolve().parent.parent  # the whole package
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                str(here)], cwd=here, capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def provenance(device: torch.device) -> dict[str, Any]:
    import torchvision

    from mnist_course.version import __version__

    return {
        "package": f"mnist_course {__version__}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": device.type,
        "device_name": device_name(device),
        **compute_provenance(device),
        "threads": torch.get_num_threads(),
        "git_commit": git_commit(),
    }


def final_evaluation(model: nn.Module, data: MNISTData, keep: int = 24) -> dict[str, Any]:
    """Confusion matrix and the most confidently wrong test images (pixels included, so
    plots can be drawn later without MNIST on disk)."""
    result = evaluate(model, data.test_images, data.test_labels)
    labels = data.test_labels.cpu()
    confusion = torch.zeros(10, 10, dtype=torch.int64)
    confusion.index_put_((labels, result.predictions), torch.ones_like(labels), accumulate=True)
    wrong = (result.predictions != labels).nonzero().flatten()
    wrong = wrong[result.confidence[wrong].argsort(descending=True, stable=True)][:keep]
    pixels = (data.test_images[wrong.to(data.device)].cpu() * 255).round().to(torch.uint8)
    return {
        "test_count": len(labels),
        "confusion_matrix": confusion.tolist(),  # rows: true digit, columns: predicted
        "misclassified": [
            {"index": int(i), "label": int(labels[i]), "predicted": int(result.predictions[i]),
             "confidence": round(float(result.confidence[i]), 4),
             "pixels": base64.b64encode(pixels[k].numpy().tobytes()).decode("ascii")}
            for k, i in enumerate(wrong.tolist())
        ],
    }


def run_course_model(
    course_model,
    data: MNISTData,
    results_dir: Path,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train one course model for one seed and store ``metrics.json`` and ``weights.pt``.

    ``epochs`` (a quick check) and a subset in ``data`` mark the record ``quick_check``;
    such a run never overwrites a full course result. A run that fails (diverged, or an
    error in the model's code) is stored with ``status: failed`` and its one-line reason,
    so its page says why, then the error is raised.
    """
    quick = epochs is not None or data.train_subset is not None
    preview = Preview(epochs, data.train_subset) if quick else None
    recipe = run_recipe(course_model, preview)
    path = store.metrics_path(results_dir, course_model.id, seed)
    if quick and path.exists():
        try:
            existing = store.load_metrics(path)
        except ResultsError:
            existing = None
        if existing and existing["status"] == "complete" and not existing["quick_check"]:
            raise UsageError(f"{path} holds a full course run; a quick check would overwrite "
                             "it: pass --results-dir with another folder")
    key = run_key(course_model, seed, preview)
    checkpoint = StoredCheckpoint(store.checkpoint_path(results_dir, course_model.id, seed),
                                  key)

    torch.manual_seed(seed)
    model = course_model.network()
    started_at = datetime.now(timezone.utc)
    wall_start = time.perf_counter()
    record: dict[str, Any] = {
        "schema_version": store.SCHEMA_VERSION,
        "model_id": course_model.id,
        "step": course_model.step,
        "title": course_model.title,
        "seed": seed,
        "params": count_parameters(model),
        "has_linear": has_linear_layer(model),
        "architecture": course_model.architecture_json(),
        "recipe": recipe.to_dict(),
        "quick_check": quick,
        "train_subset": data.train_subset,
        "cache_key": key,
        "status": "complete",
        "failure": None,
        "provenance": provenance(data.device),
    }
    # Epochs finished before a kill count towards the wall time the checkpoint recorded.
    try:
        records, lr_trace = fit(model, recipe, data, seed=seed, progress=progress,
                                checkpoint=checkpoint, on_epoch=on_epoch,
                                description=f"{course_model.id} seed {seed}")
    except Exception as exc:  # stored as failed, so the page says why; then raised
        record.update(status="failed", epochs=[], lr_trace=[],
                      failure=str(exc) if isinstance(exc, CourseError)
                      else where_in_student_code(exc))
        _finish_provenance(record, started_at, wall_start, [])
        store.write_json(path, record)
        if isinstance(exc, DivergedError):  # nothing to resume; another error keeps its epochs
            checkpoint.remove()
        raise
    record["epochs"] = records
    record["lr_trace"] = lr_trace
    record["evaluation"] = final_evaluation(model, data)
    _finish_provenance(record, started_at, wall_start, records)
    store.save_weights(model.state_dict(), store.weights_path(results_dir, course_model.id, seed))
    store.write_json(path, record)  # written last: its presence means the run is complete
    checkpoint.remove()
    return record


def _finish_provenance(record, started_at, wall_start, records) -> None:
    finished = datetime.now(timezone.utc)
    record["provenance"].update(
        started_at=started_at.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        # Sum of epoch times, so a resumed run reports its training time, not the gap.
        training_seconds=round(sum(r["seconds"] for r in records), 2),
        wall_seconds=round(time.perf_counter() - wall_start, 2),
    )


def load_trained(course_model, results_dir: Path, seed: int = 0) -> nn.Module:
    """A course model with its stored weights, in eval mode."""
    model = course_model.network()
    model.load_state_dict(store.load_weights(store.weights_path(results_dir, course_model.id,
                                                                 seed)))
    return model.eval()


# fit, evaluate and pick_device live in the engine and device modules; they are named here
# too because callers have always imported them from this module.
__all__ = ["StoredCheckpoint", "evaluate", "final_evaluation", "fit", "git_commit",
           "load_trained", "pick_device", "provenance", "run_course_model"]
