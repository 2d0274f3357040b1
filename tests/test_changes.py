"""'What changed' lines up layers by their place in the network, not by their text, and says
recipe changes in words."""

from dataclasses import replace

from mnist_course.course.recipe import Augmentation, Recipe
from mnist_course.models import get_model
from mnist_course.models.blocks import Conv, GlobalAvgPool, MaxPool
from mnist_course.report.changes import (
    RECIPE_WORDS,
    change_words,
    layer_diff,
    model_changes,
    recipe_changes,
)


def test_narrowed_layers_are_changed_not_added_and_removed():
    changes = model_changes(get_model("s1_lighter"), get_model("s1_skeleton"))
    assert changes.lines == [
        "The first 3x3 convolution before the pool narrows from 16 to 8 channels.",
        "The second 3x3 convolution before the pool and the second after it narrow from 32 "
        "to 16 channels.",
        "The 1x1 transition after the pool narrows from 16 to 8 channels."]
    assert not [row for row in changes.layers if row.change in ("added", "removed")]


def test_a_change_made_to_every_layer_of_a_kind_is_one_sentence():
    lines = model_changes(get_model("s2_batchnorm"), get_model("s1_lightest")).lines
    assert lines[0] == "Every 3x3 convolution gains batch norm."
    lines = model_changes(get_model("s1_lightest"), get_model("s1_lighter")).lines
    assert lines[:2] == [
        "The second 3x3 convolution before the pool and both after it narrow from 16 to 12 "
        "channels.",
        "The third 3x3 convolution after the pool is new: 16 channels, with ReLU."]


def test_depthwise_separable_layers_replace_full_ones_and_the_transition_goes():
    """The depthwise model makes the tiny model's 3x3 convolutions separable and has no 1x1
    transition after the pool (its Target says so): the transition is removed, not widened
    into the first separable block's 1x1 convolution."""
    changes = model_changes(get_model("s3_depthwise"), get_model("s3_tiny"))
    assert ("The 1x1 transition after the pool is gone: it had 8 channels, with batch norm "
            "and ReLU.") in changes.lines
    assert ("The second 3x3 convolution before the pool and all four after it become "
            "depthwise-separable: a 3x3 kernel per channel, then a 1x1 convolution that "
            "mixes the channels.") in changes.lines
    assert not [line for line in changes.lines if "8 to 24" in line and "1x1" in line]
    assert "The first 3x3 convolution after the pool widens from 8 to 24 channels." in (
        changes.lines)
    assert "no 1x1 transition" in " ".join(get_model("s3_depthwise").target).lower()


def test_lean_narrows_five_layers_and_adds_none():
    changes = model_changes(get_model("s3_lean"), get_model("s3_final"))
    narrowed = [row for row in changes.layers if row.change == "changed"]
    assert len(narrowed) == 5
    assert not [row for row in changes.layers if row.change in ("added", "removed")]


def test_a_new_layer_is_added_and_the_classifier_changes_its_kernel():
    before = (Conv(8), MaxPool(), Conv(16), Conv(10, kernel=8, relu=False))
    after = (Conv(8), MaxPool(), Conv(16), Conv(16), Conv(10, kernel=6, relu=False))
    rows = layer_diff(before, after)
    assert [row.change for row in rows] == ["same", "same", "same", "added", "changed"]
    assert rows[-1].text == "The classifier convolution changes its kernel from 8x8 to 6x6."
    assert rows[-2].text == ("The second 3x3 convolution after the pool is new: 16 channels, "
                             "with ReLU.")


def test_gap_replacing_a_squeeze_is_a_removal_and_an_addition():
    before = (Conv(12), Conv(10, kernel=1), Conv(10, kernel=6, relu=False))
    after = (Conv(12), GlobalAvgPool(), Conv(10, kernel=1, relu=False))
    changes = [row.change for row in layer_diff(before, after)]
    assert changes.count("removed") == 1 and changes.count("added") == 1


def test_batch_norm_and_dropout_changes_are_named():
    rows = layer_diff((Conv(8),), (Conv(8, batch_norm=True, dropout=0.05),))
    assert rows[0].text == "The 3x3 convolution gains batch norm and gains dropout 0.05."


def _recipe_fields(data: dict, prefix: str = "") -> list[str]:
    names = []
    for key, value in data.items():
        names += _recipe_fields(value, f"{prefix}{key}.") if isinstance(value, dict) else [
            prefix + key]
    return names


def test_every_recipe_field_has_words_and_none_is_left_raw():
    fields = _recipe_fields(Recipe().to_dict())
    assert sorted(RECIPE_WORDS) == sorted(fields)
    for name in fields:
        text = change_words(name, 1, 2)
        assert "recipe field" not in text and "_" not in text and "." not in text, name


def test_recipe_changes_read_as_words():
    assert model_changes(get_model("s3_final"), get_model("s3_weight_decay")).recipe == [
        "batch-norm statistics recomputed on 10,000 training images (before each test)"]
    assert model_changes(get_model("s3_onecycle"), get_model("s3_augment")).recipe == [
        "learning rate 0.1 instead of 0.01 (with one-cycle, its peak)",
        "learning-rate schedule: one-cycle",
        "the one-cycle ends after epoch 12 (later epochs keep its final rate)"]
    base = Recipe()
    changed = replace(base, ema_decay=0.999, beta1=0.7, label_smoothing=0.1, batch_size=64,
                      augmentation=Augmentation(rotation=7.0, translate=0.1))
    assert recipe_changes(base.to_dict(), changed.to_dict()) == [
        "batches of 64 images instead of 128",
        "Adam's beta1 0.7 instead of 0.9 (the decay of the gradient's running mean)",
        "training images rotated by up to ±7°",
        "training images shifted by up to ±10 % (of their size, along each axis)",
        "label smoothing 0.1 (that share of each target spread over the other digits)",
        "weights averaged with decay 0.999 (the average is what is tested)"]
    assert change_words("anneal_epochs", 12, 11) == (
        "the one-cycle ends after epoch 11 instead of 12 (later epochs keep its final rate)")
    # Turned off, an option says what is used instead.
    assert recipe_changes(changed.to_dict(), base.to_dict())[-1] == (
        "the last weights tested (no averaging)")


def test_a_field_the_table_does_not_know_still_reads():
    assert change_words("warp_drive", 0, 3) == "recipe field warp_drive: 0 → 3"
