"""'What changed' lines up layers by their place in the network, not by their text."""

from mnist_course.models import get_model
from mnist_course.models.blocks import Conv, GlobalAvgPool, MaxPool
from mnist_course.report.changes import layer_diff, model_changes


def test_narrowed_layers_are_changed_not_added_and_removed():
    changes = model_changes(get_model("s1_lighter"), get_model("s1_skeleton"))
    assert "3x3 conv: 16 → 8 channels" in changes.lines
    assert "3x3 conv: 32 → 16 channels (2 layers)" in changes.lines
    assert not [row for row in changes.layers if row.change in ("added", "removed")]


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
    assert rows[-1].text == "classifier conv: kernel 8x8 → 6x6"


def test_gap_replacing_a_squeeze_is_a_removal_and_an_addition():
    before = (Conv(12), Conv(10, kernel=1), Conv(10, kernel=6, relu=False))
    after = (Conv(12), GlobalAvgPool(), Conv(10, kernel=1, relu=False))
    changes = [row.change for row in layer_diff(before, after)]
    assert changes.count("removed") == 1 and changes.count("added") == 1


def test_batch_norm_and_dropout_changes_are_named():
    rows = layer_diff((Conv(8),), (Conv(8, batch_norm=True, dropout=0.05),))
    assert rows[0].text == "3x3 conv: batch norm added, dropout 0.05 added"
