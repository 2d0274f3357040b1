"""The training device: which one, what it is called, and how it is made deterministic.

On the CPU, torch's kernels give the same numbers run after run for a fixed thread count,
so a course run is reproducible bit for bit on the same kind of CPU with the same threads.
On CUDA some kernels are not deterministic by default (atomic adds in the backward of
pooling and scatter ops, cuBLAS's workspace splits); :func:`make_deterministic` switches
torch to its deterministic kernels, so two runs of one seed on one GPU are identical.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from .errors import UsageError

# cuBLAS keeps reductions deterministic only with a fixed workspace configuration; it must
# be set before the first cuBLAS call of the process.
CUBLAS_WORKSPACE = ":4096:8"


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


def make_deterministic(device: torch.device) -> dict[str, object]:
    """Switch torch to deterministic kernels for training on ``device``; returns what it set.

    Only CUDA needs it: the CPU kernels the course uses are deterministic already, and
    leaving the CPU's settings alone keeps the committed CPU runs exact. Any op without a
    deterministic CUDA kernel then raises instead of silently differing between runs.
    """
    if device.type != "cuda":
        return {}
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=False)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False  # benchmarking may pick a different kernel per run
    return {"CUBLAS_WORKSPACE_CONFIG": os.environ["CUBLAS_WORKSPACE_CONFIG"],
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark}


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


__all__ = ["CUBLAS_WORKSPACE", "device_name", "make_deterministic", "pick_device"]
