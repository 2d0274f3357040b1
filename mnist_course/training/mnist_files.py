"""MNIST's four raw files on disk: where they are, which they are, whether they are whole.

Torch-free, so a build that trains nothing can still ask whether MNIST is there
(:mod:`mnist_course.training.data` reads the files into tensors).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from mnist_course.errors import DataError

DATA_DIR_ENV = "MNIST_COURSE_DATA"

# The four raw files torchvision expects under <data-dir>/MNIST/raw/, with the count
# each must hold and the IDX magic number of its kind (2049 labels, 2051 images).
RAW_FILES = {
    "train-images-idx3-ubyte": (60_000, 2051),
    "train-labels-idx1-ubyte": (60_000, 2049),
    "t10k-images-idx3-ubyte": (10_000, 2051),
    "t10k-labels-idx1-ubyte": (10_000, 2049),
}
IDX_MAGIC_IMAGES = 2051
IDX_MAGIC_LABELS = 2049


def resolve_data_dir(option: str | os.PathLike | None = None) -> Path:
    """The data folder: the ``--data-dir`` option, else ``$MNIST_COURSE_DATA``, else ``./data``."""
    if option:
        return Path(option)
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    return Path("data")


def fix_hint(raw_dir: Path) -> str:
    return (
        f"put the four MNIST raw files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        f"t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) in {raw_dir}/, or pass "
        f"--data-dir / set {DATA_DIR_ENV} to a folder that has MNIST/raw/ inside"
    )


def verify_raw_files(data_dir: Path, counts: dict[str, int] | None = None) -> None:
    """Check that the four raw files exist and their headers hold the expected counts.

    ``counts`` overrides the expected number of items per file (tests use tiny files).
    """
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    for name, (count, magic) in RAW_FILES.items():
        expected = (counts or {}).get(name, count)
        path = raw_dir / name
        if not path.exists():
            raise DataError(f"MNIST file {path} is missing; {fix_hint(raw_dir)}")
        with path.open("rb") as handle:
            head = handle.read(16 if magic == IDX_MAGIC_IMAGES else 8)
        if len(head) < 8:
            raise DataError(f"{path} is truncated; {fix_hint(raw_dir)}")
        found_magic, found_count = struct.unpack(">ii", head[:8])
        if found_magic != magic:
            raise DataError(
                f"{path} has magic number {found_magic}, expected {magic}; {fix_hint(raw_dir)}"
            )
        if found_count != expected:
            raise DataError(
                f"{path} holds {found_count} items, expected {expected}; {fix_hint(raw_dir)}"
            )
        item_bytes = 1
        if magic == IDX_MAGIC_IMAGES:
            if len(head) < 16:
                raise DataError(f"{path} is truncated inside its header; {fix_hint(raw_dir)}")
            rows, cols = struct.unpack(">ii", head[8:16])
            item_bytes = rows * cols
        header = len(head)
        size = path.stat().st_size
        if size != header + found_count * item_bytes:
            raise DataError(
                f"{path} is {size} bytes but should be {header + found_count * item_bytes}: "
                f"the file is truncated or corrupted; {fix_hint(raw_dir)}"
            )


__all__ = ["DATA_DIR_ENV", "IDX_MAGIC_IMAGES", "IDX_MAGIC_LABELS", "RAW_FILES",
           "fix_hint", "resolve_data_dir", "verify_raw_files"]
