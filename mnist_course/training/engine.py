"""The training engine: ``fit`` a model to a recipe on MNIST tensors, ``evaluate`` it.

Like pytorch/examples' mnist ``train()``/``test()``, but the whole dataset stays on the
device (see :mod:`mnist_course.training.data`), every epoch ends with a full test pass, and the
per-epoch numbers are returned, not only printed. ``fit`` is a short loop over epoch
plans (every random draw of an epoch, made before its first step) and
:func:`train_step`, which runs one batch and keeps its numbers on the device: the loop
reads them back once per epoch. The engine knows nothing of the results store; a caller
that wants a killed run to resume passes a :class:`Checkpoint` (see
:mod:`mnist_course.training.train_model` for the course's).
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from mnist_course.course.recipe import Recipe, averaging_decay
from mnist_course.errors import DivergedError
from mnist_course.training.data import MNISTData, apply_affine, normalize, plan_epoch
from mnist_course.training.device import deterministic_global_pools, make_deterministic

# Images per forward pass at test time. On one CPU thread 500 is twice as fast as 2,000
# (1.2 s against 2.5 s for the test set here: its activations stay in cache), and the
# stored final and lean models score the same accuracy and loss (6 decimals) with either.
EVAL_BATCH = 500
# Images per batch when recomputing batch-norm statistics. Unlike the test pass this one
# changes the numbers: the statistics are an average over batches of per-batch variances,
# so the batch size is part of the method (500 moved a stored model by 2 test images).
RECALIBRATION_BATCH = 2000


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
        decay = averaging_decay(self.decay, self.updates)
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


class Checkpoint(Protocol):
    """Where :func:`fit` keeps its state between epochs: ``load`` returns what ``save``
    was last given (``None`` when nothing was saved), on ``device``."""

    def load(self, device: torch.device) -> dict[str, Any] | None: ...

    def save(self, payload: dict[str, Any]) -> None: ...


def _rng_state(generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state



def _payload(model, optimizer, scheduler, generator, device, state: TrainState,
             average: WeightAverage | None) -> dict[str, Any]:
    """Everything a resumed run needs, as :func:`_restore` reads it back."""
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
    return payload


def _restore(payload: dict[str, Any], model, optimizer, scheduler, generator, device,
             average: WeightAverage | None) -> TrainState:
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


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               labels: torch.Tensor, label_smoothing: float = 0.0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on one batch (``images`` as the network takes them, see
    :func:`model_input`); returns the batch's summed loss and its count of correct
    predictions as device tensors. Nothing in it waits for the device, so a loop of steps
    runs ahead of the GPU (and the step can be captured on its own)."""
    output = model(images)  # (B, 10) log-probabilities (or logits for student models)
    loss = F.cross_entropy(output, labels, label_smoothing=label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach() * len(labels), (output.detach().argmax(dim=1) == labels).sum()


def fit(
    model: nn.Module,
    recipe: Recipe,
    data: MNISTData,
    seed: int = 0,
    progress: bool = True,
    checkpoint: Checkpoint | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    description: str = "",
) -> tuple[list[dict], list[list[float]]]:
    """Train ``model`` on ``data`` with ``recipe``; evaluate on the whole test set each epoch.

    Returns ``(records, lr_trace)``: one dict per epoch (epoch, train_loss,
    train_accuracy, test_loss, test_accuracy, lr, seconds; accuracies in percent), and
    ``[epoch_fraction, lr]`` samples of the learning rate for the schedule plot.
    Call ``torch.manual_seed(seed)`` before building the model for reproducible weights.
    With ``checkpoint`` set, the state is saved at every epoch end and a run that finds a
    saved state resumes after its last finished epoch, ending with the same numbers an
    uninterrupted run gives.
    Raises :class:`DivergedError` when an epoch's mean loss is NaN or infinite (checked
    once per epoch, where the loop reads its numbers back).
    """
    from tqdm.auto import tqdm

    device = data.device
    make_deterministic(device)  # CUDA only: the CPU kernels are deterministic already
    deterministic_global_pools(model, device)
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
    # OneCycleLR reaches its final LR at step total_steps - 1 and would climb again after
    # it; a cycle shorter than the run holds that LR instead.
    per_batch_schedule = scheduler is not None and recipe.schedule == "onecycle"

    state = TrainState(0, [], [])
    saved = checkpoint.load(device) if checkpoint is not None else None
    if saved is not None:
        state = _restore(saved, model, optimizer, scheduler, generator, device, average)
    trace_every = max(1, steps_per_epoch // 8)  # 8 LR samples per epoch are plenty to plot

    for epoch in range(state.epoch + 1, recipe.epochs + 1):
        started = time.perf_counter()
        model.train()
        lr_at_start = optimizer.param_groups[0]["lr"]
        plan = plan_epoch(n_train, recipe.batch_size, recipe.augmentation, generator, device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        bar = tqdm(total=n_train, disable=not progress, leave=False, unit="img",
                   desc=f"{description} epoch {epoch}/{recipe.epochs}".strip())
        for step, (index, affine) in enumerate(plan):
            images = model_input(apply_affine(data.train_images[index], affine),
                                 channels_last)  # (B, 1, 28, 28)
            batch_loss, batch_correct = train_step(model, optimizer, images,
                                                   data.train_labels[index],
                                                   recipe.label_smoothing)
            if average is not None:
                average.update(model)
            if per_batch_schedule and scheduler.last_epoch < scheduler.total_steps - 1:
                scheduler.step()
            loss_sum += batch_loss
            correct += batch_correct
            if step % trace_every == 0:
                state.lr_trace.append([round(epoch - 1 + step / steps_per_epoch, 4),
                                       optimizer.param_groups[0]["lr"]])
            bar.update(len(index))
        # The epoch's one host synchronisation: its loss and accuracy come back here, and
        # the divergence check reads them (a NaN step makes the epoch's sum NaN).
        train_loss, train_correct = loss_sum.item() / n_train, correct.item()
        bar.close()
        if not math.isfinite(train_loss):
            raise DivergedError(f"training diverged in epoch {epoch}: the mean loss is "
                                f"{train_loss}; lower the learning rate ({recipe.lr:g}) or "
                                "add batch norm")
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
            "train_accuracy": round(100.0 * train_correct / n_train, 4),
            "test_loss": round(test.loss, 6),
            "test_accuracy": round(test.accuracy, 4),
            "lr": lr_at_start,
            "seconds": round(time.perf_counter() - started, 3),
        }
        state.records.append(record)
        state.epoch = epoch
        if checkpoint is not None:
            checkpoint.save(_payload(model, optimizer, scheduler, generator, device, state,
                                     average))
        if on_epoch is not None:
            on_epoch(record)
    if average is not None:
        # What was tested is what the caller keeps (and a course run stores).
        model.load_state_dict(average.network.state_dict())
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return state.records, state.lr_trace


__all__ = ["EVAL_BATCH", "RECALIBRATION_BATCH", "Checkpoint", "Evaluation", "TrainState",
           "WeightAverage", "evaluate", "fit", "make_optimizer", "make_scheduler",
           "model_input", "recalibrate_batch_norm", "train_step"]
