"""Per-layer summary and architecture.json: shapes, parameter totals, stable files."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mnist_course.architecture.layers import layer_summary
from mnist_course.models import COURSE, get_model
from mnist_course.models.blocks import Conv
from mnist_course.pipeline.measure_architecture import architecture_record, write_architecture
from mnist_course.store.runs import architecture_is_current, architecture_key, architecture_path


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("course_model", COURSE, ids=lambda m: m.id)
def test_totals_match_the_model_for_every_course_model(course_model):
    model = course_model.network()
    summary = layer_summary(model)
    assert summary["total_params"] == trainable(model)
    assert sum(row["params"] for row in summary["rows"]) == summary["total_params"]
    assert summary["rows"][-1]["output_shape"] == [10, 1, 1]  # the logits map


def test_s3_final_rows():
    rows = layer_summary(get_model("s3_final").network())["rows"]
    # conv1: 1 -> 8 channels, 3x3, no bias (batch norm follows): 72 weights
    assert rows[0] == {"name": "layers.conv1", "kind": "Conv2d", "output_shape": [8, 26, 26],
                       "params": 72}
    assert rows[1] == {"name": "layers.bn1", "kind": "BatchNorm2d",
                       "output_shape": [8, 26, 26], "params": 16}  # scale + shift
    assert rows[2]["kind"] == "ReLU" and rows[2]["params"] == 0
    gap = next(row for row in rows if row["name"] == "layers.gap")
    assert gap["output_shape"] == [16, 1, 1]
    # the classifier: 1x1 convolution 16 -> 10 with bias
    assert rows[-1] == {"name": "layers.conv8", "kind": "Conv2d", "output_shape": [10, 1, 1],
                        "params": 170}
    assert not any(row["kind"] in ("Sequential", "CourseNet") for row in rows)


class Shared(nn.Module):
    """A shared layer, a parameter on a non-leaf module, and a layer that never runs."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)  # 9 weights, called twice
        self.unused = nn.Linear(4, 2)  # 10 parameters
        self.frozen = nn.Conv2d(1, 1, 1)
        self.frozen.requires_grad_(False)

    def forward(self, x):
        return self.frozen(self.conv(self.conv(x)) * self.scale)


def test_shared_unused_and_frozen_parameters_are_counted_once():
    model = Shared()
    summary = layer_summary(model)
    assert [(r["name"], r["output_shape"], r["params"]) for r in summary["rows"]] == [
        ("", [1, 28, 28], 1),  # the model itself holds `scale`
        ("conv", [1, 28, 28], 9),
        ("conv", [1, 28, 28], 0),  # second call: same weights, not counted again
        ("frozen", [1, 28, 28], 0),  # not trainable
        ("unused", None, 10),  # never runs, still part of the model
    ]
    assert summary["total_params"] == trainable(model) == 20


def test_training_mode_is_restored():
    model = get_model("s2_dropout").network().train()
    layer_summary(model)
    assert all(module.training for module in model.modules())


def test_architecture_record_of_s3_final():
    record = architecture_record(get_model("s3_final").network())
    # by hand: 3x3 convs weigh c_in*c_out*9, 1x1 convs c_in*c_out, each batch norm 2 per
    # channel, the classifier has a bias
    by_hand = (1 * 8 * 9 + 16) + (8 * 12 * 9 + 24) + (12 * 10 + 20) + (10 * 12 * 9 + 24) \
        + (12 * 14 * 9 + 28) + (14 * 14 * 9 + 28) + (14 * 16 * 9 + 32) + (16 * 10 + 10)
    assert record["total_params"] == by_hand == sum(row["params"] for row in record["layers"])
    assert record["has_linear"] is False
    assert record["final_rf"] == 28 == record["receptive_field"][-1]["rf_out"]
    assert "height" in record["receptive_field_note"]
    assert "main path" in record["receptive_field_note"]


def test_write_architecture_is_stable_and_detects_staleness(tmp_path):
    course_model = get_model("s3_lean")
    assert not architecture_is_current(course_model, tmp_path)
    path = write_architecture(course_model, tmp_path)
    assert path == architecture_path(tmp_path, "s3_lean") == tmp_path / "s3_lean" / \
        "architecture.json"
    first = path.read_bytes()
    data = json.loads(first)
    assert data["model_id"] == "s3_lean"
    assert data["architecture_key"] == architecture_key(course_model)
    assert len(data["architecture_key"]) == 16
    assert architecture_is_current(course_model, tmp_path)
    assert write_architecture(course_model, tmp_path).read_bytes() == first  # byte-identical

    wider = dataclasses.replace(course_model, architecture=(Conv(9),
                                                            *course_model.architecture[1:]))
    assert architecture_key(wider) != architecture_key(course_model)
    assert not architecture_is_current(wider, tmp_path)  # same id, other layers: stale

    path.write_text("{ truncated")
    assert not architecture_is_current(course_model, tmp_path)


class FunctionalPooling(nn.Module):
    """Pools and a skip connection written in forward, not as modules."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Conv2d(4, 10, 1)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # pool in forward
        x = x + self.conv2(x)  # skip in forward
        return self.head(F.adaptive_avg_pool2d(x, 1)).flatten(1)  # gap in forward


def test_functional_spatial_calls_are_rows_of_their_own():
    lines, first = inspect.getsourcelines(FunctionalPooling.forward)

    def at(text):
        return f"test_layers.py:{first + next(i for i, s in enumerate(lines) if text in s)}"

    rows = layer_summary(FunctionalPooling())["rows"]
    assert [(row["name"], row["kind"], row["output_shape"], row["params"]) for row in rows] == [
        ("conv1", "Conv2d", [4, 26, 26], 4 * 9 + 4),
        (at("pool in forward"), "max_pool2d", [4, 13, 13], 0),  # 26 / 2
        ("conv2", "Conv2d", [4, 13, 13], 4 * 4 * 9 + 4),
        (at("skip in forward"), "add (merges 2 paths)", [4, 13, 13], 0),
        (at("gap in forward"), "adaptive_avg_pool2d", [4, 1, 1], 0),
        ("head", "Conv2d", [10, 1, 1], 4 * 10 + 10),
    ]
