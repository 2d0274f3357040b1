"""The receptive-field table against tables computed by hand.

Each expected row is (name, kernel, stride, padding, dilation, size_in, size_out,
jump_in, jump_out, rf_in, rf_out), worked out on paper from
k' = d(k-1)+1, size_out = floor((size_in + 2p - k')/s) + 1, jump_out = jump_in * s,
rf_out = rf_in + (k'-1) * jump_in; global pooling is a kernel as large as the map.
Where paths merge, a pixel sees the union of the windows of its inputs: with centre
start_out = start_in + ((k'-1)/2 - p) * jump_in, a window is start -/+ (rf-1)/2.
A functional call's row is named after its line in this file (:func:`at`).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_course.architecture.receptive_field import (
    HEIGHT_AXIS_NOTE,
    receptive_field,
    trace_receptive_field,
)
from mnist_course.architecture.static_checks import static_findings
from mnist_course.errors import UsageError
from mnist_course.models import COURSE, get_model
from mnist_course.store.files import read_json
from mnist_course.store.runs import architecture_path

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
    assert "HEIGHT" in trace_receptive_field.__doc__


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


def at(function, text: str) -> str:
    """``test_receptive_field.py:LINE`` of the line of ``function`` holding ``text``."""
    lines, first = inspect.getsourcelines(function)
    (offset,) = [i for i, line in enumerate(lines) if text in line]
    return f"{Path(__file__).name}:{first + offset}"


class ExamplesNet(nn.Module):
    """pytorch/examples' MNIST network as it is there: F.relu, F.max_pool2d, flatten, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def test_pytorch_examples_network_in_the_functional_style():
    pool = at(ExamplesNet.forward, "max_pool2d")
    trace = trace_receptive_field(ExamplesNet())
    assert [tuple(row[key] for key in FIELDS) for row in trace.rows] == [
        ("conv1", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("conv2", 3, 1, 0, 1, 26, 24, 1, 1, 3, 5),
        (pool, 2, 2, 0, 1, 24, 12, 1, 2, 5, 6),  # F.max_pool2d(x, 2): 5 + (2 - 1) * 1
        # flatten keeps every pixel apart; fc1 then mixes all 12 x 12 of them: a global
        # window of 12 at jump 2, 6 + (12 - 1) * 2 = 28. fc2 and log_softmax get no row.
        ("fc1", 12, 1, 0, 1, 12, 1, 2, 2, 6, 28),
    ]
    assert [row["kind"] for row in trace.rows] == ["Conv2d", "Conv2d", "max_pool2d", "Linear"]
    assert trace.final_rf == 28 and not trace.unfollowed and not trace.merges


class FunctionalNet(nn.Module):
    """The same style without Linear: pools and ReLUs in forward, a convolution as head."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.conv3 = nn.Conv2d(16, 12, 3)
        self.conv4 = nn.Conv2d(12, 12, 3)
        self.head = nn.Conv2d(12, 10, 4)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)  # first pool
        x = F.max_pool2d(F.relu(self.conv4(F.relu(self.conv3(x)))), 2)  # second pool
        return F.log_softmax(self.head(x).view(-1, 10), dim=1)


def test_functional_pools_with_a_convolution_head():
    first = at(FunctionalNet.forward, "first pool")
    second = at(FunctionalNet.forward, "second pool")
    assert table(FunctionalNet()) == [
        ("conv1", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("conv2", 3, 1, 0, 1, 26, 24, 1, 1, 3, 5),
        (first, 2, 2, 0, 1, 24, 12, 1, 2, 5, 6),
        ("conv3", 3, 1, 0, 1, 12, 10, 2, 2, 6, 10),  # 6 + 2 * 2
        ("conv4", 3, 1, 0, 1, 10, 8, 2, 2, 10, 14),
        (second, 2, 2, 0, 1, 8, 4, 2, 4, 14, 16),  # 14 + 1 * 2, jump 2 * 2 = 4
        ("head", 4, 1, 0, 1, 4, 1, 4, 4, 16, 28),  # 16 + 3 * 4; the view is no row
    ]
    findings, _, _ = static_findings(FunctionalNet())
    assert all(f.passed for f in findings), [f.text for f in findings if not f.passed]


class AdaptiveNet(nn.Module):
    """Modules throughout, except global pooling by F.adaptive_avg_pool2d in forward."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 12, 3), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Conv2d(12, 12, 3), nn.ReLU(),
                                  nn.Conv2d(12, 12, 3), nn.ReLU(), nn.Conv2d(12, 12, 3),
                                  nn.ReLU())
        self.head = nn.Conv2d(12, 10, 1)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.body(x), 1)).flatten(1)


def test_functional_global_pooling_sees_the_whole_image_and_passes_check():
    gap = at(AdaptiveNet.forward, "adaptive_avg_pool2d")
    assert table(AdaptiveNet()) == [
        ("body.0", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("body.2", 3, 1, 0, 1, 26, 24, 1, 1, 3, 5),
        ("body.4", 2, 2, 0, 1, 24, 12, 1, 2, 5, 6),
        ("body.5", 3, 1, 0, 1, 12, 10, 2, 2, 6, 10),
        ("body.7", 3, 1, 0, 1, 10, 8, 2, 2, 10, 14),
        ("body.9", 3, 1, 0, 1, 8, 6, 2, 2, 14, 18),  # module hooks alone stopped here: 18
        (gap, 6, 1, 0, 1, 6, 1, 2, 2, 18, 28),  # the whole 6-pixel map: 18 + 5 * 2 = 28
        ("head", 1, 1, 0, 1, 1, 1, 2, 2, 28, 28),
    ]
    findings, _, trace = static_findings(AdaptiveNet())
    assert trace.final_rf == 28
    assert all(f.passed for f in findings), [f.text for f in findings if not f.passed]
    assert "receptive field 28 pixels at the output" in findings[-1].text


class StridedFunctional(nn.Module):
    """Nothing but parameters and functional calls: strides, padding, 'same', dilation."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(4, 1, 3, 3))
        self.w2 = nn.Parameter(torch.randn(4, 4, 3, 3))
        self.w3 = nn.Parameter(torch.randn(10, 4, 3, 3))

    def forward(self, x):
        x = F.conv2d(x, self.w1, stride=2, padding=1)  # strided conv
        x = F.avg_pool2d(x, 3, stride=2, padding=1)  # padded pool
        x = F.conv2d(x, self.w2, padding="same")  # same conv
        x = F.conv2d(x, self.w3, dilation=2)  # dilated conv
        return x.mean((2, 3))  # global mean


def test_strides_and_padding_in_functional_calls():
    def line(text):
        return at(StridedFunctional.forward, text)
    assert table(StridedFunctional()) == [
        (line("strided conv"), 3, 2, 1, 1, 28, 14, 1, 2, 1, 3),  # floor((28+2-3)/2)+1 = 14
        (line("padded pool"), 3, 2, 1, 1, 14, 7, 2, 4, 3, 7),  # floor((14+2-3)/2)+1 = 7
        (line("same conv"), 3, 1, 1, 1, 7, 7, 4, 4, 7, 15),  # 'same' pads 1: 7 + 2 * 4
        (line("dilated conv"), 3, 1, 0, 2, 7, 3, 4, 4, 15, 31),  # k' = 5: 7-5+1 = 3; 15+4*4
        (line("global mean"), 3, 1, 0, 1, 3, 1, 4, 4, 31, 39),  # 31 + 2 * 4
    ]
    kinds = [row["kind"] for row in receptive_field(StridedFunctional())]
    assert kinds == ["conv2d", "avg_pool2d", "conv2d", "conv2d", "mean"]


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
        return self.out(x).flatten(1)


def test_skip_connection_merges_the_paths():
    add = at(Residual.forward, "x + self.conv2")
    trace = trace_receptive_field(Residual())
    assert [tuple(row[key] for key in FIELDS) for row in trace.rows] == [
        ("stem", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),  # window [0, 2], centre 1
        ("conv1", 3, 1, 1, 1, 26, 26, 1, 1, 3, 5),  # padded: centre 1 + (1 - 1) * 1 = 1
        ("conv2", 3, 1, 1, 1, 26, 26, 1, 1, 5, 7),  # window [-2, 4]
        # x (the skip, 3 pixels, [0, 2]) + the branch (7 pixels, [-2, 4]): the union is the
        # larger, 7; rf_in is the first operand's.
        (add, 1, 1, 0, 1, 26, 26, 1, 1, 3, 7),
        ("out", 26, 1, 0, 1, 26, 1, 1, 1, 7, 32),  # 7 + 25 * 1
    ]
    assert trace.rows[3]["kind"] == "add (merges 2 paths)"
    assert trace.final_rf == 32 and trace.merges == 1
    assert "branches" in trace.note() and "main path" not in trace.note()


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
        return self.head(x * gate.expand_as(x)).flatten(1)  # expand_as: x lends its shape


def test_a_gate_broadcast_over_the_map_stays_the_whole_image():
    mul = at(SqueezeExcite.forward, "x * gate")  # one merge: expand_as is no second one
    assert table(SqueezeExcite()) == [
        ("conv", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("squeeze", 26, 1, 0, 1, 26, 1, 1, 1, 3, 28),  # 3 + 25: window [0, 27]
        ("reduce", 1, 1, 0, 1, 1, 1, 1, 1, 28, 28),
        ("expand", 1, 1, 0, 1, 1, 1, 1, 1, 28, 28),
        # pixel 0 of x sees [0, 2], the gate [0, 27] wherever it is broadcast: 28
        (mul, 1, 1, 0, 1, 26, 26, 1, 1, 3, 28),
        # the x path: 3 + 25 = 28 ([0, 27]); the gate's window does not slide: still 28
        ("head", 26, 1, 0, 1, 26, 1, 1, 1, 28, 28),
    ]


class TwoBranches(nn.Module):
    """Inception-like: a 3x3 and a padded 5x5 branch concatenated along the channels."""

    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(1, 4, 3)
        self.large = nn.Conv2d(1, 4, 5, padding=1)
        self.head = nn.Conv2d(8, 10, 26)

    def forward(self, x):
        x = torch.cat([self.small(x), self.large(x)], dim=1)
        return self.head(x).flatten(1)


def test_concatenated_branches_merge_like_a_sum():
    cat = at(TwoBranches.forward, "torch.cat")
    assert table(TwoBranches()) == [
        ("small", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),  # [0, 2]
        ("large", 5, 1, 1, 1, 28, 26, 1, 1, 1, 5),  # centre 0 + (2 - 1) = 1: [-1, 3]
        (cat, 1, 1, 0, 1, 26, 26, 1, 1, 3, 5),  # union [-1, 3]
        ("head", 26, 1, 0, 1, 26, 1, 1, 1, 5, 30),  # 5 + 25
    ]


class SharedConv(nn.Module):
    """One padded convolution called twice, then global average pooling by x.mean."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3)
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 10, 1)

    def forward(self, x):
        x = self.conv(F.relu(self.conv(F.relu(self.stem(x)))))
        return self.head(x).mean((2, 3))  # GAP by hand


def test_a_module_used_twice_gets_two_rows_and_mean_is_global_pooling():
    gap = at(SharedConv.forward, "GAP by hand")
    assert table(SharedConv()) == [
        ("stem", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),
        ("conv", 3, 1, 1, 1, 26, 26, 1, 1, 3, 5),
        ("conv", 3, 1, 1, 1, 26, 26, 1, 1, 5, 7),  # the same module again: a row per call
        ("head", 1, 1, 0, 1, 26, 26, 1, 1, 7, 7),
        (gap, 26, 1, 0, 1, 26, 1, 1, 1, 7, 32),  # x.mean((2, 3)): 7 + 25 * 1
    ]


def test_a_mean_over_the_flattened_pixels_is_global_pooling():
    class Flattened(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 10, 3)

        def forward(self, x):
            x = self.conv(x)
            return x.view(x.size(0), x.size(1), -1).mean(2)

    (conv, gap) = table(Flattened())
    assert conv == ("conv", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3)
    assert gap[1:] == (26, 1, 0, 1, 26, 1, 1, 1, 3, 28)  # 3 + 25 * 1


class Upsampled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 10, 3)
        self.head = nn.Conv2d(10, 10, 3)

    def forward(self, x):
        x = F.interpolate(self.conv(x), scale_factor=2)
        return self.head(x).mean((2, 3))


def test_what_cannot_be_followed_is_named_where_it_is():
    where = at(Upsampled.forward, "interpolate")
    trace = trace_receptive_field(Upsampled())
    assert [tuple(row[key] for key in FIELDS) for row in trace.rows] == [
        ("conv", 3, 1, 0, 1, 28, 26, 1, 1, 1, 3),  # the rows before it are still given
    ]
    assert trace.unfollowed == [f"interpolate at {where}: it turns a 10x26x26 tensor into "
                                "10x52x52, and its receptive field is unknown"]
    assert trace.final_rf is None and "Not followed: interpolate" in trace.note()
    with pytest.raises(UsageError, match=f"interpolate at {where}") as caught:
        receptive_field(Upsampled())
    assert "\n" not in str(caught.value)
    findings, _, _ = static_findings(Upsampled())
    assert any(f.passed and f"interpolate at {where}" in f.text for f in findings)


def test_training_mode_is_restored_per_module():
    model = get_model("s3_final").network().train()
    model.layers.bn1.eval()  # a frozen batch norm must stay frozen
    receptive_field(model)
    assert model.training and model.layers.conv1.training
    assert not model.layers.bn1.training


@pytest.mark.parametrize("course_model", COURSE, ids=lambda m: m.id)
def test_the_course_models_stored_tables_are_what_the_trace_gives(course_model):
    """Following every call instead of module hooks changes no course model's table."""
    stored = read_json(architecture_path(Path(__file__).parents[1] / "results", course_model.id))
    trace = trace_receptive_field(course_model.network())
    assert trace.rows == stored["receptive_field"]
    assert trace.final_rf == stored["final_rf"] and trace.note() == stored["receptive_field_note"]
    assert not trace.unfollowed and not trace.merges
