"""The training engine: a frozen recipe, ``fit()`` and ``evaluate()`` that return metrics.

Like pytorch/examples' mnist ``train()``/``test()``, but the whole dataset stays on the
device (see :mod:`mnist_course.data`), every epoch ends with a full test pass, and the
per-epoch numbers are returned, not only printed. ``run_course_model`` wraps ``fit`` for
the course: it writes ``metrics.json`` and weights through :mod:`mnist_course.results`,
checkpoints each epoch and resumes a killed run exactly where it stopped.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import results as store
from .course import where_in_student_code
from .data import MNISTData, normalize, random_affine, shuffled_batches
from .errors import CourseError, DivergedError, ResultsError, UsageError
from .recipe import Recipe, cache_key

# Images per forward pass at test time. On one CPU thread 500 is twice as fast as 2,000
# (1.2 s against 2.5 s for the test set here: its activations stay in cache), and the
# stored final and lean models score the same accuracy and loss (6 decimals) with either.
EVAL_BATCH = 500
# Images per batch when recomputing batch-norm statistics. Unlike the test pass this one
# changes the numbers: the statistics are an average over batches of per-batch variances,
# so the batch size is part of the method (500 moved a stored model by 2 test images).
RECALIBRATION_BATCH = 2000


def pick_device(requested: str | None = None) -> torch.device:
    """CUDA when available (or asked for), else the CPU; asking for a missing CUDA is an error."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in ("cpu", "cuda") and not requested.startswith("cuda:"):
        raise UsageError(f"unknown device {requested!r}: use cpu or cuda")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but this machine has no usable CUDA GPU; "
                         "use --device cpu")
    return torch.device(requested)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                               nesterov=recipe.nesterov and recipe.momentum > 0,
                               weight_decay=recipe.weight_decay, foreach=True)
    betas = (recipe.beta1, recipe.beta2)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, betas=betas,
                                weight_decay=recipe.weight_decay, foreach=True)
    return torch.optim.AdamW(params, lr=recipe.lr, betas=betas, weight_decay=recipe.weight_decay,
                             foreach=True)


class WeightAverage:
    """An exponential moving average of a network's weights (``Recipe.ema_decay``).

    ``network`` is a copy of the trained model whose parameters follow the average; it is
    the network that is tested and stored. Only parameters are averaged: batch norm's
    statistics are recomputed for the averaged weights or copied from the training network
    (:func:`fit` decides which).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.network = copy.deepcopy(model)
        self.network.requires_grad_(False)

    def _pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        averaged = [p for p in self.network.parameters()]
        current = [p.detach() for p in model.parameters()]
        return averaged, current

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        # A warm-up: early on the average forgets quickly, so it never carries the random
        # initial weights into the epochs that are tested.
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged, current = self._pairs(model)
        torch._foreach_lerp_(averaged, current, 1.0 - decay)

    @torch.no_grad()
    def borrow_statistics(self, model: nn.Module) -> None:
        """Copy the training network's buffers (batch norm's running statistics)."""
        for mine, theirs in zip(self.network.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.network.load_state_dict(state["network"])


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe, steps_per_epoch: int):
    """The LR schedule; ``onecycle`` steps every batch, the others once per epoch."""
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, recipe.step_size, recipe.gamma)
    if recipe.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=recipe.gamma, patience=recipe.patience)
    if recipe.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, epochs=recipe.anneal_epochs or recipe.epochs,
            steps_per_epoch=steps_per_epoch,
            pct_start=recipe.warmup_fraction, div_factor=recipe.div_factor,
            final_div_factor=recipe.final_div_factor,
            anneal_strategy="cos", cycle_momentum=recipe.optimizer == "sgd")
    return None


@dataclass
class Evaluation:
    loss: float  # mean negative log-likelihood per image
    accuracy: float  # percent
    predictions: torch.Tensor  # (N,) int64 on the CPU
    confidence: torch.Tensor  # (N,) probability of the predicted class


def model_input(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """A batch of [0, 1] images as the network takes it: normalised, and in the
    channels_last layout when the model is (the same layout on both sides avoids copies)."""
    x = normalize(images)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = EVAL_BATCH, channels_last: bool = False) -> Evaluation:
    """Loss and accuracy of ``model`` on ``images`` ([0, 1], (N, 1, 28, 28))."""
    model.eval()
    total_loss = torch.zeros((), device=images.device)
    predictions, confidence = [], []
    for start in range(0, len(images), batch_size):
        x = model_input(images[start:start + batch_size], channels_last)
        y = labels[start:start + batch_size]
        log_probs = torch.log_softmax(model(x).float(), dim=1)  # (B, 10)
        total_loss += F.nll_loss(log_probs, y, reduction="sum")
        best = log_probs.max(dim=1)
        predictions.append(best.indices)
        confidence.append(best.values.exp())
    predicted = torch.cat(predictions).cpu()
    accuracy = 100.0 * (predicted == labels.cpu()).float().mean().item()
    return Evaluation(total_loss.item() / len(images), accuracy, predicted,
                      torch.cat(confidence).cpu())


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, images: torch.Tensor,
                           batch_size: int = RECALIBRATION_BATCH, channels_last: bool = False
                           ) -> None:
    """Replace every batch norm's running mean and variance by their average over
    ``images`` ([0, 1], (N, 1, 28, 28)), computed with the model's current weights.

    The running averages kept during training mostly reflect the last few batches, seen
    with slightly older weights; recomputing them makes the test pass see the statistics
    of the network actually being tested. Only the statistics change, never the weights.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    model.eval()  # dropout stays off; only the batch norms gather statistics
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # None: an equal-weight average over all batches seen
        norm.train()
    for start in range(0, len(images), batch_size):
        x = model_input(images[start:start + batch_size], channels_last)
        model(x)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
        norm.eval()


@dataclass
class TrainState:
    """What a checkpoint holds; enough to continue a run bit for bit."""

    epoch: int
    records: list[dict]
    lr_trace: list[list[float]]


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _save_checkpoint(path: Path, model, optimizer, scheduler, generator, device, state,
                     average: WeightAverage | None = None) -> None:
    payload = {
        "epoch": state.epoch,
        "records": json.dumps(state.records),
        "lr_trace": json.dumps(state.lr_trace),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": json.dumps(scheduler.state_dict()) if scheduler is not None else "",
        "rng": _rng_state(generator, device),
    }
    if average is not None:
        payload["average"] = average.state_dict()
    store.save_weights(payload, path)


def _load_checkpoint(path: Path, model, optimizer, scheduler, generator, device,
                     average: WeightAverage | None = None) -> TrainState:
    payload = store.load_weights(path, map_location=str(device))
    model.load_state_dict(payload["model"])
    if average is not None:
        average.load_state_dict(payload["average"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"]:
        scheduler.load_state_dict(json.loads(payload["scheduler"]))
    generator.set_state(payload["rng"]["generator"].cpu())
    torch.set_rng_state(payload["rng"]["torch"].cpu())
    if "cuda" in payload["rng"] and device.type == "cuda":
        torch.cuda.set_rng_state(payload["rng"]["cuda"].cpu(), device)
    return TrainState(payload["epoch"], json.loads(payload["records"]),
                      json.loads(payload["lr_trace"]))


def fit(
    model: nn.Module,
    recipe: Recipe,
    data: MNISTData,
    seed: int = 0,
    progress: bool = True,
    checkpoint: Path | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    description: str = "",
) -> tuple[list[dict], list[list[float]]]:
    """Train ``model`` on ``data`` with ``recipe``; evaluate on the whole test set each epoch.

    Returns ``(records, lr_trace)``: one dict per epoch (epoch, train_loss,
    train_accuracy, test_loss, test_accuracy, lr, seconds; accuracies in percent), and
    ``[epoch_fraction, lr]`` samples of the learning rate for the schedule plot.
    Call ``torch.manual_seed(seed)`` before building the model for reproducible weights.
    With ``checkpoint`` set, the state is saved atomically at every epoch end and a run
    that finds a checkpoint resumes after its last finished epoch, ending with the same
    numbers an uninterrupted run gives.
    Raises :class:`DivergedError` when the loss becomes NaN or infinite.
    """
    from tqdm.auto import tqdm

    device = data.device
    # channels_last lets oneDNN pick its fastest CPU convolutions (about 1.5x here);
    # on CUDA the default layout is as good for these tiny channel counts.
    channels_last = device.type == "cpu"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n_train = len(data.train_labels)
    steps_per_epoch = math.ceil(n_train / recipe.batch_size)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe, steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)  # shuffling and augmentation draws
    average = WeightAverage(model, recipe.ema_decay) if recipe.ema_decay else None
    tested = average.network if average is not None else model

    state = TrainState(0, [], [])
    if checkpoint is not None and Path(checkpoint).exists():
        state = _load_checkpoint(Path(checkpoint), model, optimizer, scheduler, generator, device,
                                 average)
    trace_every = max(1, steps_per_epoch // 8)  # 8 LR samples per epoch are plenty to plot

    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        started = time.perf_counter()
        model.train()
        lr_at_start = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        bar = tqdm(total=n_train, disable=not progress, leave=False, unit="img",
                   desc=f"{description} epoch {epoch}/{recipe.epochs}".strip())
        for step, index in enumerate(shuffled_batches(n_train, recipe.batch_size, generator,
                                                      device)):
            x = random_affine(data.train_images[index], recipe.augmentation, generator)
            x = model_input(x, channels_last)  # (B, 1, 28, 28)
            y = data.train_labels[index]  # (B,)
            output = model(x)  # (B, 10) log-probabilities (or logits for student models)
            loss = F.cross_entropy(output, y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:
                average.update(model)
            # OneCycleLR reaches its final LR at step total_steps - 1 and would climb again
            # after it; a cycle shorter than the run holds that LR instead.
            if (scheduler is not None and recipe.schedule == "onecycle"
                    and scheduler.last_epoch < scheduler.total_steps - 1):
                scheduler.step()
            loss_sum += loss.detach() * len(y)
            correct += (output.detach().argmax(dim=1) == y).sum()
            if step % trace_every == 0:
                state.lr_trace.append([round(epoch - 1 + step / steps_per_epoch, 4),
                                       optimizer.param_groups[0]["lr"]])
            if step % 20 == 0 or step == steps_per_epoch - 1:
                current = loss.item()
                if not math.isfinite(current):
                    bar.close()
                    raise DivergedError(
                        f"training diverged at epoch {epoch}, step {step + 1}: the loss is "
                        f"{current}; lower the learning rate ({recipe.lr:g}) or add batch norm")
                bar.set_postfix(loss=f"{current:.3f}")
            bar.update(len(y))
        bar.close()
        train_loss = loss_sum.item() / n_train
        if not math.isfinite(train_loss):
            raise DivergedError(f"training diverged in epoch {epoch}: the mean loss is "
                                f"{train_loss}; lower the learning rate ({recipe.lr:g})")
        if average is not None and not recipe.bn_recalibration:
            average.borrow_statistics(model)
        if recipe.bn_recalibration:
            recalibrate_batch_norm(tested, data.train_images[:recipe.bn_recalibration],
                                   channels_last=channels_last)
        test = evaluate(tested, data.test_images, data.test_labels, channels_last=channels_last)
        if scheduler is not None and recipe.schedule == "step":
            scheduler.step()
        elif scheduler is not None and recipe.schedule == "plateau":
            scheduler.step(test.loss)
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "train_accuracy": round(100.0 * correct.item() / n_train, 4),
            "test_loss": round(test.loss, 6),
            "test_accuracy": round(test.accuracy, 4),
            "lr": lr_at_start,
            "seconds": round(time.perf_counter() - started, 3),
        }
        state.records.append(record)
        state.epoch = epoch
        if checkpoint is not None:
            _save_checkpoint(Path(checkpoint), model, optimizer, scheduler, generator, device,
                             state, average)
        if on_epoch is not None:
            on_epoch(record)
    if average is not None:
        # What was tested is what the caller keeps (and a course run stores).
        model.load_state_dict(average.network.state_dict())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return state.records, state.lr_trace


# ----------------------------------------------------------------------------------------
# Course runs: fit + the results store


def git_commit() -> str | None:
    """The commit of the working tree this package runs from, with '+dirty' when edited."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                str(here)], cwd=here, capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model as /proc/cpuinfo gives it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def provenance(device: torch.device) -> dict[str, Any]:
    import torchvision

    from . import __version__

    return {
        "package": f"mnist_course {__version__}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": device.type,
        "device_name": device_name(device),
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
    recipe = course_model.recipe
    if epochs is not None:
        recipe = recipe.with_epochs(epochs)
    quick = epochs is not None or data.train_subset is not None
    path = store.metrics_path(results_dir, course_model.id, seed)
    if quick and path.exists():
        try:
            existing = store.load_metrics(path)
        except ResultsError:
            existing = None
        if existing and existing["status"] == "complete" and not existing["quick_check"]:
            raise UsageError(f"{path} holds a full course run; a quick check would overwrite "
                             "it: pass --results-dir with another folder")
    key = cache_key(course_model.architecture_json(), recipe, seed, data.train_subset)
    checkpoint = store.checkpoint_path(results_dir, course_model.id, seed)
    if checkpoint.exists():
        meta = checkpoint.with_suffix(".key")
        if not meta.exists() or meta.read_text().strip() != key:
            checkpoint.unlink()  # a checkpoint of another configuration must not be resumed
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.with_suffix(".key").write_text(key + "\n")

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
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "has_linear": any(isinstance(m, nn.Linear) for m in model.modules()),
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
        diverged = isinstance(exc, DivergedError)
        record.update(status="failed", epochs=[], lr_trace=[],
                      failure=str(exc) if isinstance(exc, CourseError)
                      else where_in_student_code(exc))
        _finish_provenance(record, started_at, wall_start, [])
        store.write_json(path, record)
        if diverged:  # nothing to resume; another error keeps its finished epochs
            checkpoint.unlink(missing_ok=True)
            checkpoint.with_suffix(".key").unlink(missing_ok=True)
        raise
    record["epochs"] = records
    record["lr_trace"] = lr_trace
    record["evaluation"] = final_evaluation(model, data)
    _finish_provenance(record, started_at, wall_start, records)
    store.save_weights(model.state_dict(), store.weights_path(results_dir, course_model.id, seed))
    store.write_json(path, record)  # written last: its presence means the run is complete
    checkpoint.unlink(missing_ok=True)
    checkpoint.with_suffix(".key").unlink(missing_ok=True)
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
