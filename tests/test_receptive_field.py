"""The receptive-field table against tables computed by hand.

Each expected row is (name, kernel, stride, padding, dilation, size_in, size_out,
jump_in, jump_out, rf_in, rf_out), worked out on paper from
k' = d(k-1)+1, size_out = floor((size_in + 2p - k')/s) + 1, jump_out = jump_in * s,
rf_out = rf_in + (k'-1) * jump_in.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_course.errors import UsageError
from mnist_course.models import get_model
from mnist_course.receptive_field import HEIGHT_AXIS_NOTE, receptive_field

FIELDS = ("name", "kernel", "stride", "padding", "dilation", "size_in", "size_out",
          "jump_in", "jump_out", "rf_in", "rf_out")


def table(model: nn.Module, input_size=(1, 28, 28)) -> list[tuple]:
    return [tuple(row[key] for key in FIELDS) for row in receptive_field(model, input_size)]


def test_s1_skeleton():
    assert table(get_model("s1_skeleton").network()) == [
        ("layers.conv1", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("layers.conv2", 3, 1, 0, 1, 26, 24, 1, 1, 3, 5),
        ("layers.pool1", 2, 2, 0, 1, 24, 12, 1, 2, 5, 6),
        ("layers.conv3", 1, 1, 0, 1, 12, 12, 2, 2, 6, 6),  # 1x1 transition: field unchanged
        ("layers.conv4", 3, 1, 0, 1, 12, 10, 2, 2, 6, 10),
        ("layers.conv5", 3, 1, 0, 1, 10, 8, 2, 2, 10, 14),
        ("layers.conv6", 1, 1, 0, 1, 8, 8, 2, 2, 14, 14),
        ("layers.conv7", 8, 1, 0, 1, 8, 1, 2, 2, 14, 28),  # classifier kernel = whole map
    ]


def test_s3_final_with_global_average_pooling():
    rows = receptive_field(get_model("s3_final").network())
    assert [tuple(row[key] for key in FIELDS) for row in rows] == [
        ("layers.conv1", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("layers.conv2", 3, 1, 0, 1, 26, 24, 1, 1, 3, 5),
        ("layers.pool1", 2, 2, 0, 1, 24, 12, 1, 2, 5, 6),
        ("layers.conv3", 1, 1, 0, 1, 12, 12, 2, 2, 6, 6),
        ("layers.conv4", 3, 1, 0, 1, 12, 10, 2, 2, 6, 10),
        ("layers.conv5", 3, 1, 0, 1, 10, 8, 2, 2, 10, 14),
        ("layers.conv6", 3, 1, 0, 1, 8, 6, 2, 2, 14, 18),
        ("layers.conv7", 3, 1, 0, 1, 6, 4, 2, 2, 18, 22),
        ("layers.gap", 4, 1, 0, 1, 4, 1, 2, 2, 22, 28),  # global pool: kernel = its input
        ("layers.conv8", 1, 1, 0, 1, 1, 1, 2, 2, 28, 28),
    ]
    assert [row["kind"] for row in rows][-3:] == ["Conv2d", "AdaptiveAvgPool2d", "Conv2d"]
    assert all(isinstance(row[key], int) for row in rows for key in FIELDS[1:])


def test_strided_conv():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3))
    assert table(model) == [
        ("0", 3, 2, 1, 1, 28, 14, 1, 2, 1, 3),  # floor((28 + 2 - 3) / 2) + 1 = 14
        ("2", 3, 1, 0, 1, 14, 12, 2, 2, 3, 7),  # each tap is 2 input pixels apart
    ]


def test_dilated_conv():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2),
                          nn.Conv2d(2, 2, 3, dilation=3, padding=3))
    assert table(model) == [
        ("0", 3, 1, 0, 2, 28, 24, 1, 1, 1, 5),  # effective kernel 5
        ("1", 3, 1, 3, 3, 24, 24, 1, 1, 5, 11),  # effective kernel 7, padded to keep 24
    ]


def test_non_square_kernel_reports_the_height_axis():
    model = nn.Sequential(nn.Conv2d(1, 2, kernel_size=(5, 3), padding=(1, 0)))
    assert table(model) == [("0", 5, 1, 1, 1, 28, 26, 1, 1, 1, 5)]
    assert "height" in HEIGHT_AXIS_NOTE
    assert "HEIGHT" in receptive_field.__doc__


def test_average_pool_with_stride_and_padding():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AvgPool2d(3, stride=2, padding=1))
    assert table(model) == [
        ("0", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("1", 3, 2, 1, 1, 26, 13, 1, 2, 3, 5),  # floor((26 + 2 - 3) / 2) + 1 = 13
    ]


def test_ceil_mode_pool():
    model = nn.Sequential(nn.Conv2d(1, 2, 4), nn.MaxPool2d(2, ceil_mode=True))
    assert table(model) == [
        ("0", 4, 1, 0, 1, 28, 25, 1, 1, 1, 4),
        ("1", 2, 2, 0, 1, 25, 13, 1, 2, 4, 5),  # ceil(23 / 2) + 1 = 13
    ]


def test_adaptive_max_pool_is_global_pooling():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.AdaptiveMaxPool2d(1),
                          nn.Flatten())
    assert table(model) == [
        ("0", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("1", 2, 2, 0, 1, 26, 13, 1, 2, 3, 4),
        ("2", 13, 1, 0, 1, 13, 1, 2, 2, 4, 28),  # 4 + (13 - 1) * 2
    ]


class Mean(nn.Module):
    """Global average pooling written by hand, as students do."""

    def __init__(self, keepdim: bool = True):
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x):
        return x.mean((2, 3), keepdim=self.keepdim)


class CustomForward(nn.Module):
    """Modules declared out of order, a pool shared by two calls, functional ReLUs."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(8, 10, 1)
        self.squash = Mean()
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))  # 28 -> 26 -> 13
        x = self.pool(F.relu(self.conv2(x)))  # 13 -> 13 -> 6
        return self.squash(self.head(x)).flatten(1)  # 6 -> 6 -> 1


def test_custom_forward_follows_the_forward_pass():
    assert table(CustomForward()) == [
        ("conv1", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("pool", 2, 2, 0, 1, 26, 13, 1, 2, 3, 4),
        ("conv2", 3, 1, 1, 1, 13, 13, 2, 2, 4, 8),
        ("pool", 2, 2, 0, 1, 13, 6, 2, 4, 8, 10),  # the shared pool: a row per call
        ("head", 1, 1, 0, 1, 6, 6, 4, 4, 10, 10),
        ("squash", 6, 1, 0, 1, 6, 1, 4, 4, 10, 30),  # 10 + 5 * 4: beyond the 28-pixel image
    ]
    assert receptive_field(CustomForward())[-1]["kind"] == "Mean"


def test_mean_without_keepdim_is_global_pooling_too():
    model = nn.Sequential(nn.Conv2d(1, 2, 5, stride=3), Mean(keepdim=False))
    assert table(model) == [
        ("0", 5, 3, 0, 1, 28, 8, 1, 3, 1, 5),  # floor(23 / 3) + 1 = 8
        ("1", 8, 1, 0, 1, 8, 1, 3, 3, 5, 26),  # 5 + 7 * 3
    ]


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.out = nn.Conv2d(4, 10, 26)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.conv2(F.relu(self.conv1(x)))  # the skip: same size, so no shape gives it away
        return self.out(x)


class SqueezeExcite(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(8, 2, 1)
        self.expand = nn.Conv2d(2, 8, 1)
        self.head = nn.Conv2d(8, 10, 26)

    def forward(self, x):
        x = F.relu(self.conv(x))
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(self.squeeze(x)))))
        return self.head(x * gate)


@pytest.mark.parametrize("model", [Residual(), SqueezeExcite()], ids=["residual", "se"])
def test_branchy_models_are_refused(model):
    with pytest.raises(UsageError, match="branches") as caught:
        receptive_field(model)
    assert "\n" not in str(caught.value)


def test_functional_pooling_in_forward_is_refused():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3)
            self.conv2 = nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.conv2(F.max_pool2d(self.conv1(x), 2))  # invisible to module hooks

    with pytest.raises(UsageError, match="outside any module"):
        receptive_field(Functional())


def test_training_mode_is_restored_per_module():
    model = get_model("s3_final").network().train()
    model.layers.bn1.eval()  # a frozen batch norm must stay frozen
    receptive_field(model)
    assert model.training and model.layers.conv1.training
    assert not model.layers.bn1.training
