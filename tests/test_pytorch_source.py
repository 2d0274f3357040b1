"""The PyTorch and recipe source the pages show: it runs, and it is the course's model."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest
import torch

import mnist_course as mc
from mnist_course.architecture.receptive_field import receptive_field
from mnist_course.models import COURSE, CourseModel, get_model
from mnist_course.models.blocks import Conv, GlobalAvgPool, MaxPool
from mnist_course.models.network import count_parameters
from mnist_course.models.pytorch_source import float_literal, pytorch_source, recipe_source

MODEL_IDS = [model.id for model in COURSE]


def exported(course_model, seed: int = 0) -> torch.nn.Module:
    """Run the generated source as a student would paste it; return its ``model``."""
    namespace: dict = {}
    torch.manual_seed(seed)
    exec(pytorch_source(course_model), namespace)  # noqa: S102 - the text under test
    return namespace["model"]


def test_the_module_does_not_import_torch():
    code = ("import sys, mnist_course.models.pytorch_source as p, mnist_course.models as m; "
            "p.pytorch_source(m.COURSE[-1]); p.recipe_source(m.COURSE[-1].recipe); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_generated_network_is_the_course_network(model_id):
    course_model = get_model(model_id)
    torch.manual_seed(0)
    course = course_model.network()
    pasted = exported(course_model, seed=0)
    # Same trainable parameter count, also the one the header comment states.
    assert count_parameters(pasted) == count_parameters(course)
    assert f"{count_parameters(course):,} trainable parameters" in pytorch_source(course_model)
    # Same tensors in the same order, and from the same seed the same starting weights:
    # the layers are made in the same order and both apply He initialisation.
    course_state, pasted_state = course.state_dict(), pasted.state_dict()
    assert len(course_state) == len(pasted_state)
    for (name, ours), theirs in zip(course_state.items(), pasted_state.values(), strict=True):
        assert torch.equal(ours, theirs), name
    # Same output: shape (2, 10) log-probabilities, equal values in evaluation mode.
    images = torch.randn(2, 1, 28, 28)
    course.eval()
    pasted.eval()
    with torch.no_grad():
        expected, output = course(images), pasted(images)
    assert output.shape == expected.shape == (2, 10)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(output.exp().sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_layer_comments_match_the_receptive_field_table(model_id):
    course_model = get_model(model_id)
    comments = re.findall(r"# (\d+) -> (\d+), RF (\d+)", pytorch_source(course_model))
    rows = receptive_field(course_model.network())
    assert [tuple(map(int, c)) for c in comments] == [
        (row["size_in"], row["size_out"], row["rf_out"]) for row in rows]


def test_source_uses_plain_pytorch_only():
    text = pytorch_source(get_model("s2_dropout"))
    assert "mnist_course" not in text and "MaskDropout" not in text
    assert "nn.Dropout(0.05)" in text and "bias=False" in text
    assert text.count("nn.LogSoftmax(dim=1)") == 1 and "nn.NLLLoss()" in text
    compile(text, "<pasted>", "exec")


def test_depthwise_convolution_becomes_a_grouped_conv():
    spec = (Conv(8, batch_norm=True), Conv(16, depthwise=True, batch_norm=True),
            Conv(12, kernel=1, batch_norm=True), MaxPool(), GlobalAvgPool(),
            Conv(10, kernel=1, relu=False))
    course_model = CourseModel(id="depthwise_check", step=3, title="Depthwise", target=(),
                               architecture=spec, recipe=mc.Recipe(), analysis="")
    text = pytorch_source(course_model)
    assert "nn.Conv2d(8, 16, kernel_size=3, groups=8, bias=False)" in text
    torch.manual_seed(0)
    course = course_model.network()
    pasted = exported(course_model)
    assert count_parameters(pasted) == count_parameters(course)
    assert pasted(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(("spec", "error"), [
    ((Conv(12, kernel=26, relu=False),), "end in 10 channels on a 1x1 map, not 12 on 3x3"),
    ((Conv(10, relu=False),), "not 10 on 26x26"),
    ((Conv(8), Conv(12, depthwise=True)), "needs a multiple of 8 outputs"),
    ((Conv(10, kernel=29),), "does not fit the 28x28 map"),
])
def test_a_spec_that_cannot_classify_is_refused(spec, error):
    course_model = CourseModel(id="bad", step=3, title="Bad", target=(), architecture=spec,
                               recipe=mc.Recipe(), analysis="")
    with pytest.raises(ValueError, match=re.escape(error)):
        pytorch_source(course_model)


# -------------------------------------------------------------------------- recipes

@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_recipe_call_makes_an_equal_recipe(model_id):
    recipe = get_model(model_id).recipe
    assert eval(recipe_source(recipe), {"mc": mc}) == recipe  # noqa: S307 - text under test


def test_recipe_call_lists_only_what_differs_written_as_code():
    assert recipe_source(mc.Recipe()) == "mc.Recipe()"
    assert recipe_source(mc.Recipe(lr=0.05)) == "mc.Recipe(lr=0.05)"
    text = recipe_source(get_model("s3_final").recipe)
    assert text.splitlines() == [
        "mc.Recipe(",
        "    lr=0.1,",
        "    weight_decay=1e-3,",
        '    schedule="onecycle",',
        "    augmentation=mc.Augmentation(rotation=7.0),",
        "    anneal_epochs=12,",
        "    bn_recalibration=10_000,",
        ")",
    ]


def test_every_recipe_field_survives_the_round_trip():
    recipe = mc.Recipe(epochs=12, batch_size=64, optimizer="adamw", lr=3e-4, momentum=0.95,
                       nesterov=True, weight_decay=5e-4, schedule="step", step_size=4,
                       gamma=0.5, patience=2, warmup_fraction=0.3, div_factor=25.0,
                       final_div_factor=1e4, label_smoothing=0.1, anneal_epochs=10,
                       bn_recalibration=2_000,
                       augmentation=mc.Augmentation(rotation=7.5, translate=0.1, scale=0.05,
                                                    shear=2.0))
    text = recipe_source(recipe)
    assert eval(text, {"mc": mc}) == recipe  # noqa: S307 - text under test
    assert "lr=3e-4" in text and "nesterov=True" in text and 'optimizer="adamw"' in text


def test_float_literals_read_back_exactly():
    assert [float_literal(v) for v in (0.1, 7.0, 1e-3, 5e-4, 2.5e-5, 0.0, 100.0)] == [
        "0.1", "7.0", "1e-3", "5e-4", "2.5e-5", "0.0", "100.0"]
    rng = random.Random(0)
    for _ in range(2000):
        value = rng.uniform(0.5, 9.5) * 10 ** rng.randint(-12, 6) * rng.choice((1, -1))
        assert float(float_literal(value)) == value
