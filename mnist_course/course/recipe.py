"""How a model is trained, as data: the recipe, its augmentation, and the cache key.

Torch-free on purpose: the course definitions and the report layer import this module
without pulling in torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from mnist_course.errors import UsageError

# Bump when a change to the engine changes what training produces: stored runs whose
# cache key was made with another version are retrained by the report builder.
# 2: He initialisation of every convolution. 3: dropout masks drawn with torch.rand
# (models without dropout train exactly as in 2); test passes in batches of 500.
ENGINE_VERSION = 3

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "plateau", "onecycle")


@dataclass(frozen=True)
class Augmentation:
    """Random affine augmentation, drawn independently per image.

    All zero (the default) means no augmentation at all.
    """

    rotation: float = 0.0  # degrees; angle ~ U(-rotation, +rotation)
    translate: float = 0.0  # fraction of the image size; shift ~ U(-t, +t) per axis
    scale: float = 0.0  # relative; factor ~ U(1 - scale, 1 + scale)
    shear: float = 0.0  # degrees; x-shear angle ~ U(-shear, +shear)

    @property
    def enabled(self) -> bool:
        return any((self.rotation, self.translate, self.scale, self.shear))

    def describe(self) -> str:
        if not self.enabled:
            return "none"
        parts = []
        if self.rotation:
            parts.append(f"rotation ±{self.rotation:g}°")
        if self.translate:
            parts.append(f"translation ±{self.translate * 100:g} %")
        if self.scale:
            parts.append(f"scale ±{self.scale * 100:g} %")
        if self.shear:
            parts.append(f"shear ±{self.shear:g}°")
        return ", ".join(parts)



@dataclass(frozen=True)
class Recipe:
    """Everything about *how* a model is trained (the model itself is separate)."""

    epochs: int = 15
    batch_size: int = 128  # images per optimizer step
    optimizer: str = "sgd"  # sgd | adam | adamw
    lr: float = 0.01  # learning rate; with the one-cycle schedule, its peak
    momentum: float = 0.9  # SGD only
    # Adam and AdamW only: the decay rates of the gradient's running mean and of its square.
    beta1: float = 0.9
    beta2: float = 0.999
    nesterov: bool = False  # SGD only
    weight_decay: float = 0.0  # L2 (SGD/Adam) or decoupled (AdamW)
    schedule: str = "none"  # none | step | plateau | onecycle
    step_size: int = 6  # epochs between decays (step)
    gamma: float = 0.1  # decay factor (step, plateau)
    patience: int = 1  # epochs without test-loss improvement before decaying (plateau)
    warmup_fraction: float = 0.2  # share of training spent rising to the peak (onecycle)
    div_factor: float = 10.0  # onecycle: start LR = lr / div_factor
    final_div_factor: float = 100.0  # onecycle: final LR = start LR / final_div_factor
    augmentation: Augmentation = field(default_factory=Augmentation)
    label_smoothing: float = 0.0  # target mass moved to other classes, 0..1
    # onecycle: the cycle (warm-up + anneal) spans this many epochs and later epochs keep
    # its final LR; 0 = all epochs. Ending the anneal early makes the last epochs steady.
    anneal_epochs: int = 0
    # Before each test pass, recompute batch norm's statistics on this many training images
    # (the first N, not augmented) with the weights being tested; 0 = use the running
    # averages, which follow the last ~20 batches and so lag and jitter with them.
    bn_recalibration: int = 0
    # Keep an exponential moving average of the weights, updated after every step with this
    # decay (0 = none), and test and store the average instead of the last weights: it
    # smooths the step-to-step jitter the last epochs would otherwise show. The first
    # updates use a smaller decay, (1 + n) / (10 + n) after n updates, so the average does
    # not remember the random initial weights. With bn_recalibration, batch norm's statistics
    # are recomputed for the averaged weights; without it the average borrows the training
    # network's running statistics.
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1 (got {self.batch_size})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"lr must be a positive number (got {self.lr})")
        if not 0 <= self.label_smoothing < 1:
            problems.append("label_smoothing must be in [0, 1)")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1) (got {self.ema_decay})")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1) (got {getattr(self, name)})")
        if self.bn_recalibration < 0:
            problems.append(f"bn_recalibration must be >= 0 (got {self.bn_recalibration})")
        if not 0 <= self.anneal_epochs <= self.epochs:
            problems.append(f"anneal_epochs must be between 0 and epochs ({self.epochs})")
        if problems:
            raise UsageError("bad recipe: " + "; ".join(problems))

    def with_epochs(self, epochs: int) -> Recipe:
        """The same recipe for a different number of epochs (quick checks, benchmarks); a
        one-cycle that would end after the new last epoch spans the whole run instead."""
        anneal = self.anneal_epochs if self.anneal_epochs <= epochs else 0
        return dataclasses.replace(self, epochs=epochs, anneal_epochs=anneal)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown recipe field(s): {', '.join(unknown)}")
        values = dict(data)
        if isinstance(values.get("augmentation"), dict):
            values["augmentation"] = Augmentation(**values["augmentation"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        """One line a student can read: optimizer, LR, schedule, augmentation."""
        opt = self.optimizer.upper() if self.optimizer == "sgd" else self.optimizer.capitalize()
        if self.optimizer == "sgd" and self.momentum:
            opt += f" (momentum {self.momentum:g}{', Nesterov' if self.nesterov else ''})"
        if self.optimizer != "sgd" and (self.beta1, self.beta2) != (0.9, 0.999):
            opt += f" (betas {self.beta1:g}, {self.beta2:g})"
        parts = [f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}",
                 f"batch {self.batch_size}", opt, f"lr {self.lr:g}"]
        if self.weight_decay:
            parts.append(f"weight decay {self.weight_decay:g}")
        parts.append({
            "none": "constant LR",
            "step": f"StepLR (×{self.gamma:g} every {self.step_size} epochs)",
            "plateau": f"ReduceLROnPlateau (×{self.gamma:g})",
            "onecycle": f"OneCycle (peak at {self.warmup_fraction:.0%}"
                        + (f" of {self.anneal_epochs} epochs, then its final LR"
                           if self.anneal_epochs else "") + ")",
        }[self.schedule])
        if self.augmentation.enabled:
            parts.append("augmentation: " + self.augmentation.describe())
        if self.label_smoothing:
            parts.append(f"label smoothing {self.label_smoothing:g}")
        if self.bn_recalibration:
            parts.append(f"batch-norm statistics recomputed on {self.bn_recalibration:,} "
                         "training images before each test")
        if self.ema_decay:
            parts.append(f"weights averaged (decay {self.ema_decay:g}), the average tested")
        return ", ".join(parts)



def averaging_decay(decay: float, updates: int) -> float:
    """The decay of the weight average's ``updates``-th update (``Recipe.ema_decay``): the
    warm-up (1 + n) / (10 + n) until it reaches ``decay``. The engine averages with it and
    the Concepts page works it out, so the two cannot drift apart."""
    return min(decay, (1 + updates) / (10 + updates))


# Recipe fields added after the first course runs, with the value that reproduces the
# behaviour from before they existed. At that value they stay out of the cache key, so
# adding an option does not make every stored run look stale.
FIELDS_ADDED_LATER = {"anneal_epochs": 0, "bn_recalibration": 0, "ema_decay": 0.0,
                      "beta1": 0.9, "beta2": 0.999}


def recipe_identity(recipe: Recipe) -> dict[str, Any]:
    """The recipe's fields that decide its numbers, as keys see them: a field added later is
    left out while it keeps the value that reproduces the behaviour from before it existed."""
    return {name: value for name, value in recipe.to_dict().items()
            if not (name in FIELDS_ADDED_LATER and value == FIELDS_ADDED_LATER[name])}


def cache_key(architecture: Any, recipe: Recipe, seed: int, train_subset: int | None) -> str:
    """What decides a run's numbers: the model's layers, the recipe, the seed, the data
    subset and the engine version. The report builder retrains a run when this changes."""
    material = json.dumps({"architecture": architecture, "recipe": recipe_identity(recipe),
                           "seed": seed, "train_subset": train_subset,
                           "engine": ENGINE_VERSION}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:16]
