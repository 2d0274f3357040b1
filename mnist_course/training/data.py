"""MNIST on the training device: load, verify, normalise, shuffle, augment.

The whole dataset lives on the device as one tensor (airbench style): a batch is a
slice of a seeded permutation, so no DataLoader or per-image PIL transform sits in the
hot path. Augmentation is applied to whole batches with ``F.affine_grid`` +
``F.grid_sample``, one random affine matrix per image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mnist_course.course.recipe import Augmentation
from mnist_course.errors import DataError
from mnist_course.training.mnist_files import (
    RAW_FILES,
    fix_hint,
    resolve_data_dir,
    verify_raw_files,
)

# Mean and standard deviation of the 60,000 training pixels after scaling to [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

def check_split(images: torch.Tensor, labels: torch.Tensor, count: int, split: str) -> None:
    """Shape, dtype and label checks for one split; raises :class:`DataError`."""
    if images.dtype != torch.uint8 or labels.dtype not in (torch.uint8, torch.int64):
        raise DataError(f"MNIST {split} split has dtype {images.dtype}/{labels.dtype}, "
                        "expected uint8; re-copy the raw files")
    if tuple(images.shape) != (count, 28, 28):
        raise DataError(
            f"MNIST {split} images have shape {tuple(images.shape)}, expected ({count}, 28, 28); "
            "re-copy the raw files"
        )
    if tuple(labels.shape) != (count,):
        raise DataError(
            f"MNIST {split} has {len(labels)} labels for {len(images)} images: the label file "
            "does not match the image file; re-copy the raw files"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise DataError(f"MNIST {split} labels fall outside 0-9: the label file is corrupted")
    per_digit = torch.bincount(labels.long(), minlength=10)
    if count >= 1000 and int(per_digit.min()) < count // 20:
        raise DataError(
            f"MNIST {split} labels are implausible (per-digit counts {per_digit.tolist()}): "
            "the label file is corrupted or does not belong to these images"
        )


@dataclass
class MNISTData:
    """Both MNIST splits as tensors on one device.

    Images are float32 in [0, 1] with shape (N, 1, 28, 28); normalisation happens per
    batch (after augmentation, so rotated-in corners are true black). Labels are int64 (N,).
    """

    train_images: torch.Tensor  # (60000, 1, 28, 28) float32 in [0, 1]
    train_labels: torch.Tensor  # (60000,) int64
    test_images: torch.Tensor  # (10000, 1, 28, 28) float32 in [0, 1]
    test_labels: torch.Tensor  # (10000,) int64
    source: str = ""
    train_subset: int | None = field(default=None)

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def subset(self, n_train: int | None, seed: int = 0) -> MNISTData:
        """The first ``n_train`` images of a seeded permutation (stratification not needed
        at the sizes tests use); the test split is kept whole."""
        if n_train is None or n_train >= len(self.train_labels):
            return self
        if n_train < 1:
            raise DataError(f"--train-subset must be at least 1, got {n_train}")
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(self.train_labels), generator=generator)[:n_train]
        keep = keep.to(self.device)
        return MNISTData(
            self.train_images[keep], self.train_labels[keep], self.test_images,
            self.test_labels, self.source, n_train,
        )

    def to(self, device: torch.device | str) -> MNISTData:
        return MNISTData(
            self.train_images.to(device), self.train_labels.to(device),
            self.test_images.to(device), self.test_labels.to(device),
            self.source, self.train_subset,
        )


def load_mnist(
    data_dir: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    download: bool = True,
) -> MNISTData:
    """Load and verify MNIST through ``torchvision.datasets.MNIST``.

    Reads ``<data_dir>/MNIST/raw/`` (downloading when missing and the network allows) and
    returns both splits on ``device``. Every failure is a one-line :class:`DataError`.
    """
    from torchvision.datasets import MNIST

    root = resolve_data_dir(data_dir)
    raw_dir = root / "MNIST" / "raw"
    if not all((raw_dir / name).exists() for name in RAW_FILES):
        if not download:
            raise DataError(f"MNIST is not in {raw_dir}; {fix_hint(raw_dir)}")
        try:
            MNIST(root=str(root), train=True, download=True)
        except Exception:  # torchvision raises RuntimeError / URLError without a network
            raise DataError(
                f"MNIST is not in {raw_dir} and could not be downloaded (no network?); "
                f"{fix_hint(raw_dir)}"
            ) from None
    verify_raw_files(root)
    splits = {}
    for train in (True, False):
        try:
            dataset = MNIST(root=str(root), train=train, download=False)
        except Exception as exc:  # a corrupt file torchvision chokes on
            raise DataError(f"torchvision could not read MNIST in {raw_dir} ({exc}); "
                            f"{fix_hint(raw_dir)}") from None
        split = "train" if train else "test"
        count = 60_000 if train else 10_000
        check_split(dataset.data, dataset.targets, count, split)
        splits[split] = dataset
    return MNISTData(
        train_images=_as_float(splits["train"].data, device),
        train_labels=splits["train"].targets.to(device=device, dtype=torch.int64),
        test_images=_as_float(splits["test"].data, device),
        test_labels=splits["test"].targets.to(device=device, dtype=torch.int64),
        source=str(raw_dir),
    )


def _as_float(images_uint8: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    # (N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1]
    return images_uint8.to(device).unsqueeze(1).float().div_(255.0)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Standardise [0, 1] images with the MNIST training mean and std."""
    return (images - MNIST_MEAN) / MNIST_STD


@dataclass(frozen=True)
class EpochPlan:
    """Every random choice of one training epoch, drawn before its first step: the image
    indices of each batch (a seeded permutation of the training set, the last batch
    partial) and each batch's affine matrices (``None`` without augmentation).

    :func:`plan_epoch` draws them from one generator in the order training has always
    used (the permutation, then each batch's draws, batch after batch), so a plan holds
    exactly the batches an epoch trains on; replaying a run needs only the same plans.
    """

    batches: tuple[torch.Tensor, ...]  # (B,) int64 indices on the data's device
    affines: tuple[torch.Tensor | None, ...]  # (B, 2, 3) float32 on that device, or None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        return iter(zip(self.batches, self.affines, strict=True))

    def __len__(self) -> int:
        return len(self.batches)


def plan_epoch(n: int, batch_size: int, augmentation: Augmentation,
               generator: torch.Generator, device: torch.device) -> EpochPlan:
    """The next epoch's :class:`EpochPlan`, drawn from ``generator`` (on the CPU, so a seed
    gives the same batches and transforms on every device)."""
    batches = tuple(torch.randperm(n, generator=generator).to(device).split(batch_size))
    affines = tuple(affine_matrices(len(index), augmentation, generator).to(device)
                    if augmentation.enabled else None for index in batches)
    return EpochPlan(batches, affines)


def affine_matrices(batch: int, augmentation: Augmentation, generator: torch.Generator
                    ) -> torch.Tensor:
    """One random affine matrix per image, (batch, 2, 3) on the CPU, mapping output
    coordinates to input coordinates in ``F.affine_grid``'s normalised [-1, 1] frame."""

    def uniform(limit: float) -> torch.Tensor:
        # (B,) uniform in [-limit, +limit]
        return (torch.rand(batch, generator=generator) * 2 - 1) * limit

    angle = torch.deg2rad(uniform(augmentation.rotation))
    shear = torch.deg2rad(uniform(augmentation.shear))
    scale = 1 + uniform(augmentation.scale)
    # affine_grid works in normalised coordinates [-1, 1]: a shift of t * size is 2t.
    shift_x, shift_y = uniform(2 * augmentation.translate), uniform(2 * augmentation.translate)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Matrix maps output coordinates to input coordinates: (rotation @ shear) / scale.
    return torch.stack(
        [
            torch.stack([cos, cos * torch.tan(shear) - sin, shift_x], dim=1),
            torch.stack([sin, sin * torch.tan(shear) + cos, shift_y], dim=1),
        ],
        dim=1,
    ) / torch.stack([scale, scale, torch.ones(batch)], dim=1).unsqueeze(1)  # (B, 2, 3)


def apply_affine(images: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
    """``images`` ((B, C, H, W) in [0, 1]) moved by one affine matrix each (``theta``,
    (B, 2, 3)); pixels moved in from outside are 0 (black). ``None``: the images as they are."""
    if theta is None:
        return images
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(
    images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """Apply one random affine transform per image of a batch (drawn from ``generator``,
    as :func:`plan_epoch` draws them). With augmentation disabled the input is returned
    as is."""
    if not augmentation.enabled:
        return images
    return apply_affine(images, affine_matrices(images.shape[0], augmentation, generator))
