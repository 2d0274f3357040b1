"""The training device: which one, what it is called, and how it is made deterministic.

On the CPU, torch's kernels give the same numbers run after run for a fixed thread count,
so a course run is reproducible bit for bit on the same kind of CPU with the same threads.
On CUDA some kernels are not deterministic by default (atomic adds in the backward of
pooling and scatter ops, cuBLAS's workspace splits); :func:`make_deterministic` switches
torch to its deterministic kernels and :func:`deterministic_global_pools` replaces the one
pooling op of the course without a deterministic CUDA backward, so two runs of one seed on
one GPU give the same numbers.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch
from torch import nn

from mnist_course.errors import UsageError

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


def spatial_mean(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling, (B, C, H, W) -> (B, C, 1, 1), as a mean over H and W."""
    return x.mean(dim=(2, 3), keepdim=True)


def deterministic_global_pools(model: nn.Module, device: torch.device) -> int:
    """On CUDA, make every global average pool of ``model`` (``nn.AdaptiveAvgPool2d(1)``) a
    mean over the spatial dimensions; returns how many it changed.

    ``adaptive_avg_pool2d``'s CUDA backward adds with atomics in no fixed order, and
    :func:`make_deterministic` makes torch refuse it; the mean gives the same values with a
    backward that is a plain broadcast. On the CPU nothing changes, so the stored CPU runs
    stay exact. The modules keep their class (layer tables still say AdaptiveAvgPool2d).
    """
    if device.type != "cuda":
        return 0
    changed = 0
    for module in model.modules():
        if (isinstance(module, nn.AdaptiveAvgPool2d)
                and module.output_size in (1, (1, 1), [1, 1])):
            module.forward = spatial_mean  # an instance attribute: state_dict is unchanged
            changed += 1
    return changed


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


def compute_provenance(device: torch.device) -> dict[str, object]:
    """What a run's numbers depend on beyond the device's name: on the CPU the vector
    instruction set torch dispatches to (``torch.backends.cpu.get_cpu_capability()``:
    one "AMD EPYC" computes with AVX2, another with AVX512, and their sums differ in the
    last bits); on CUDA the card's compute capability and the CUDA and cuDNN versions."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return {"cuda_capability": f"{major}.{minor}", "cuda": torch.version.cuda,
                "cudnn": torch.backends.cudnn.version()}
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability()}


__all__ = ["CUBLAS_WORKSPACE", "compute_provenance", "deterministic_global_pools",
           "device_name",
           "make_deterministic", "pick_device", "spatial_mean"]
