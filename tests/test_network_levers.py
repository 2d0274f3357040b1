"""Layer options that change how a network spends its parameters: shift-only and affine-free
batch norm, factorised and strided convolutions, shared weights, identity starts; and the
sweep candidates built from them. Each is counted by the spec, by the built network, by the
per-layer summary and by the receptive-field table alike."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from mnist_course.architecture.layers import layer_summary
from mnist_course.architecture.receptive_field import receptive_field
from mnist_course.models import COURSE
from mnist_course.models.blocks import (
    Conv,
    GlobalAvgPool,
    MaxPool,
    before_gap,
    describe_layer,
    spec_parameters,
    spec_to_json,
)
from mnist_course.models.network import CourseNet, count_parameters
from mnist_course.models.pytorch_source import pytorch_source
from mnist_course.models.sweeps import NETWORK_LEVERS, PARAMETER_LIMIT, widened

LEVERS = {candidate.id: candidate.model for candidate in NETWORK_LEVERS.candidates}
SPECS = {**{m.id: m.architecture for m in COURSE if m.architecture}, **{
    key: model.architecture for key, model in LEVERS.items()}}


def small(*middle: Conv) -> tuple:
    """A short valid network around the layers under test: 28 -> 26, the layers, GAP."""
    return (Conv(8, batch_norm=True), *middle, GlobalAvgPool(), Conv(10, kernel=1, relu=False))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_spec_the_network_and_the_layer_summary_count_the_same(name):
    spec = SPECS[name]
    network = CourseNet(spec)
    assert spec_parameters(spec) == count_parameters(network)
    assert layer_summary(network)["total_params"] == count_parameters(network)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_walked_receptive_field_is_the_traced_one(name):
    spec = SPECS[name]
    rows = receptive_field(CourseNet(spec))
    # the layer the global average pool reads, or, without one, the classifier's input
    gap = next((i for i, row in enumerate(rows) if row["kind"].startswith("Adaptive")),
               len(rows) - 1)
    place = before_gap(spec)
    assert (place.field, place.size) == (rows[gap - 1]["rf_out"], rows[gap - 1]["size_out"])


def test_new_fields_at_their_defaults_stay_out_of_the_json_so_no_cache_key_changes():
    defaults = {"stride": 1, "factorised": False, "batch_norm_scale": True,
                "batch_norm_affine": True, "shares": None, "identity_init": False}
    for model in COURSE:
        for layer in model.architecture_json() or []:
            for name in defaults.keys() & set(layer):
                assert layer[name] != defaults[name], (model.id, name)
    assert spec_to_json((Conv(8, stride=2),))[0]["stride"] == 2
    assert "stride" not in spec_to_json((Conv(8),))[0]


def test_shift_only_batch_norm_trains_the_shift_and_keeps_the_scale_at_one():
    network = CourseNet(small(Conv(12, batch_norm=True, batch_norm_scale=False)))
    norm = network.layers.bn2
    assert not norm.weight.requires_grad and norm.bias.requires_grad
    assert spec_parameters(small(Conv(12, batch_norm=True, batch_norm_scale=False))) == \
        spec_parameters(small(Conv(12, batch_norm=True))) - 12
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, weight_decay=0.1)
    network(torch.randn(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    assert torch.equal(norm.weight, torch.ones(12))
    assert "BN (shift only)" in describe_layer(network.spec[1])


def test_affine_free_batch_norm_has_no_parameters():
    spec = small(Conv(12, batch_norm=True, batch_norm_affine=False))
    network = CourseNet(spec)
    assert network.layers.bn2.weight is None and network.layers.bn2.bias is None
    assert spec_parameters(spec) == spec_parameters(small(Conv(12, batch_norm=True))) - 24


def test_a_factorised_convolution_is_a_column_then_a_row_with_the_same_window():
    spec = small(Conv(12, batch_norm=True, factorised=True))
    conv = CourseNet(spec).layers.conv2
    assert [tuple(c.kernel_size) for c in conv] == [(3, 1), (1, 3)]
    assert spec_parameters(spec) - spec_parameters(small()) + 8 * 10 == \
        3 * 8 * 12 + 3 * 12 * 12 + 24 + 12 * 10  # the pair, its batch norm, the classifier
    plain = small(Conv(12, batch_norm=True))
    assert before_gap(spec).field == before_gap(plain).field
    rows = receptive_field(CourseNet(spec))
    assert rows[-3]["rf_out"] == receptive_field(CourseNet(plain))[-3]["rf_out"]


def test_a_factorised_depthwise_convolution_stays_per_channel():
    spec = small(Conv(8, batch_norm=True, depthwise=True, factorised=True))
    conv = CourseNet(spec).layers.conv2
    assert [c.groups for c in conv] == [8, 8]
    assert sum(p.numel() for p in conv.parameters()) == 6 * 8


def test_shared_weights_run_twice_and_count_once():
    spec = small(Conv(8, batch_norm=True), Conv(8, batch_norm=True, shares=1))
    network = CourseNet(spec)
    assert network.layers.conv2 is network.layers.conv3
    assert network.layers.bn2 is not network.layers.bn3  # each application normalises itself
    assert count_parameters(network) == spec_parameters(spec) == \
        spec_parameters(small(Conv(8, batch_norm=True))) + 16
    # the depth is real: two 3x3 windows on top of the first
    assert before_gap(spec).field == 7
    calls = [row["name"] for row in layer_summary(network)["rows"]]
    assert calls.count("layers.conv2") == 2


@pytest.mark.parametrize("spec", [
    small(Conv(8, batch_norm=True), Conv(12, batch_norm=True, shares=1)),  # other width
    small(Conv(8, batch_norm=True, shares=5)),  # not an earlier layer
    small(Conv(8, batch_norm=True), Conv(8, shares=1)),  # the other has batch norm
], ids=["width", "later", "bias"])
def test_sharing_what_cannot_be_shared_is_refused(spec):
    with pytest.raises(ValueError, match="share"):
        CourseNet(spec)


def test_an_identity_start_adds_the_identity_to_the_he_weights():
    spec = small(Conv(8, batch_norm=True, depthwise=True))
    torch.manual_seed(0)
    plain = CourseNet(spec).layers.conv2.weight
    torch.manual_seed(0)
    identity = CourseNet(small(Conv(8, batch_norm=True, depthwise=True,
                                    identity_init=True))).layers.conv2.weight
    difference = identity - plain
    torch.testing.assert_close(difference[:, 0, 1, 1], torch.ones(8))
    difference[:, 0, 1, 1] = 0
    torch.testing.assert_close(difference, torch.zeros_like(difference))


def test_a_factorised_identity_start_has_the_identity_in_both_halves():
    spec = small(Conv(8, batch_norm=True, depthwise=True, factorised=True))
    torch.manual_seed(0)
    plain = CourseNet(spec).layers.conv2
    torch.manual_seed(0)
    started = CourseNet(small(Conv(8, batch_norm=True, depthwise=True, factorised=True,
                                   identity_init=True))).layers.conv2
    for half, centre in ((0, (1, 0)), (1, (0, 1))):  # the 3x1's centre, then the 1x3's
        difference = started[half].weight - plain[half].weight
        torch.testing.assert_close(difference[:, 0, centre[0], centre[1]], torch.ones(8))
        difference[:, 0, centre[0], centre[1]] = 0
        torch.testing.assert_close(difference, torch.zeros_like(difference))


def test_a_strided_convolution_halves_the_map_like_a_pool():
    strided = small(Conv(8, batch_norm=True, depthwise=True, stride=2))  # 26 -> 12
    pooled = small(MaxPool(), Conv(8, batch_norm=True, depthwise=True))  # 26 -> 13 -> 11
    assert before_gap(strided).size == 12 and before_gap(pooled).size == 11
    rows = receptive_field(CourseNet(strided))
    assert rows[1]["stride"] == 2 and rows[1]["jump_out"] == 2
    assert before_gap(strided).field == rows[-3]["rf_out"]


@pytest.mark.parametrize("spec", [
    small(Conv(12, batch_norm=True, factorised=True)),
    small(Conv(8, batch_norm=True, depthwise=True, factorised=True, stride=2)),
    small(Conv(12, batch_norm=True, batch_norm_scale=False)),
    small(Conv(12, batch_norm=True, batch_norm_affine=False, relu=False)),
], ids=["factorised", "depthwise-strided", "shift-only", "affine-free"])
def test_pasted_pytorch_has_the_course_networks_parameters(spec):
    model = dataclasses.replace(COURSE[0], architecture=spec)
    namespace: dict = {}
    exec(pytorch_source(model), namespace)
    pasted = namespace["model"]
    norms = [m for m in CourseNet(spec).modules() if isinstance(m, nn.BatchNorm2d)]
    pasted_norms = [m for m in pasted.modules() if isinstance(m, nn.BatchNorm2d)]
    for ours, theirs in zip(norms, pasted_norms, strict=True):
        if ours.affine and not ours.weight.requires_grad:  # what the pasted comment asks for
            theirs.weight.requires_grad_(False)
    assert count_parameters(pasted) == spec_parameters(spec)
    assert pasted(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_shared_weights_are_not_written_as_one_sequential():
    model = dataclasses.replace(COURSE[0], architecture=small(
        Conv(8, batch_norm=True), Conv(8, batch_norm=True, shares=1)))
    with pytest.raises(ValueError, match="shared weights"):
        pytorch_source(model)


def test_every_lever_stays_under_the_limit_and_widening_spends_what_it_frees():
    for key, model in LEVERS.items():
        assert spec_parameters(model.architecture) < PARAMETER_LIMIT, key
    shifted = LEVERS["sep_bn_shift"].architecture
    assert widened(shifted) == shifted  # already as wide as the limit allows
    # one more channel on the last 1x1 convolution after the pool would cross the limit
    last = max(i for i, layer in enumerate(shifted) if isinstance(layer, Conv)
               and layer.kernel == 1 and layer.relu)
    wider = list(shifted)
    wider[last] = dataclasses.replace(shifted[last], out_channels=shifted[last].out_channels + 1)
    assert spec_parameters(tuple(wider)) >= PARAMETER_LIMIT


def test_each_lever_names_its_change_and_its_widths():
    candidate_ids = set(LEVERS)
    for candidate in NETWORK_LEVERS.candidates:
        assert candidate.base == "s3_separable" or candidate.base in candidate_ids
        widths = [layer.out_channels for layer in candidate.model.architecture
                  if isinstance(layer, Conv) and layer.kernel == 1 and layer.relu][1:]
        if "widths after the pool" in candidate.change:
            assert candidate.change.endswith("-".join(map(str, widths)))


def test_what_changed_names_each_new_option():
    from mnist_course.report.changes import layer_diff, model_changes

    before = small(Conv(8, batch_norm=True, depthwise=True))
    options = {"stride": 2, "factorised": True, "batch_norm_scale": False, "shares": 0,
               "identity_init": True}
    words = {"stride": "stride 2 instead of 1", "factorised": "factorised into 3x1 and 1x3",
             "batch_norm_scale": "keeps only batch norm's shift",
             "shares": "reuses the weights of layer 0", "identity_init": "starts as the identity"}
    for name, value in options.items():
        after = (before[0], dataclasses.replace(before[1], **{name: value}), *before[2:])
        changed = [row.text for row in layer_diff(before, after) if row.change == "changed"]
        assert changed and words[name] in changed[0], name
    identity = next(m for m in COURSE if m.id == "s3_identity")
    separable = next(m for m in COURSE if m.id == identity.previous)
    assert model_changes(identity, separable).lines == [
        "Every separable 3x3 convolution starts as the identity."]
