"""Deterministic settings for CUDA, checked on the CPU side (no GPU needed)."""

from __future__ import annotations

import os

import pytest
import torch

from mnist_course.models import FINAL_MODEL_ID, get_model
from mnist_course.training import device as dev


@pytest.fixture
def restore_torch_settings(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(before[0], warn_only=before[1])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2:]


def test_cuda_training_switches_torch_to_deterministic_kernels(restore_torch_settings):
    applied = dev.make_deterministic(torch.device("cuda"))
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()  # refuse, not warn
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == dev.CUBLAS_WORKSPACE
    assert applied == {"CUBLAS_WORKSPACE_CONFIG": dev.CUBLAS_WORKSPACE,
                       "deterministic_algorithms": True, "cudnn_deterministic": True,
                       "cudnn_benchmark": False}


def test_cpu_training_leaves_torch_settings_alone(restore_torch_settings):
    torch.use_deterministic_algorithms(False)
    assert dev.make_deterministic(torch.device("cpu")) == {}
    assert not torch.are_deterministic_algorithms_enabled()
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_global_pools_become_a_spatial_mean_on_cuda_only():
    torch.manual_seed(0)
    model = get_model(FINAL_MODEL_ID).network()
    pools = [m for m in model.modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d)]
    assert pools  # the final model ends in global average pooling
    x = torch.randn(4, 1, 28, 28)
    model.eval()
    before = model(x)
    assert dev.deterministic_global_pools(model, torch.device("cpu")) == 0
    assert all("forward" not in vars(pool) for pool in pools)
    assert dev.deterministic_global_pools(model, torch.device("cuda")) == len(pools)
    assert all(vars(pool)["forward"] is dev.spatial_mean for pool in pools)
    assert torch.allclose(model(x), before, atol=1e-6)  # the same values, computed as a mean
    assert set(model.state_dict()) == set(get_model(FINAL_MODEL_ID).network().state_dict())


def test_spatial_mean_matches_adaptive_pooling_forward_and_backward():
    x = torch.randn(3, 5, 7, 7, requires_grad=True)
    y = torch.randn(3, 5, 7, 7, requires_grad=True)
    with torch.no_grad():
        y.copy_(x)
    dev.spatial_mean(x).square().sum().backward()
    torch.nn.functional.adaptive_avg_pool2d(y, 1).square().sum().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-7)


def test_asking_for_a_missing_gpu_is_one_line(monkeypatch):
    from mnist_course.errors import UsageError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no usable CUDA GPU"):
        dev.pick_device("cuda")
    assert dev.pick_device("auto").type == "cpu"
