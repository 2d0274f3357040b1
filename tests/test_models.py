import pytest
import torch
from torch import nn

from mnist_course.models import COURSE, FINAL_MODEL_ID, LEAN_MODEL_ID, STEPS, get_model
from mnist_course.models.blocks import describe_layer
from mnist_course.summary import PARAM_BUDGET


def params(model_id: str) -> int:
    return sum(p.numel() for p in get_model(model_id).build().parameters() if p.requires_grad)


@pytest.mark.parametrize("course_model", COURSE, ids=lambda m: m.id)
def test_every_model_builds_runs_forward_and_backward(course_model):
    torch.manual_seed(0)
    model = course_model.build()
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    x = torch.randn(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 10)
    torch.nn.functional.nll_loss(out, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_three_steps_of_three_or_four_models():
    assert sorted(STEPS) == [1, 2, 3]
    for step in STEPS:
        assert 3 <= sum(m.step == step for m in COURSE) <= 4


def test_each_model_names_its_predecessor_and_target():
    ids = [m.id for m in COURSE]
    assert len(set(ids)) == len(ids)
    for index, model in enumerate(COURSE):
        assert model.title and model.target and all(t.strip() for t in model.target)
        assert model.analysis.strip()
        if index == 0:
            assert model.previous is None
        else:
            assert model.previous in ids[:index]


def test_budgets_of_the_final_and_lean_models():
    assert params(FINAL_MODEL_ID) < PARAM_BUDGET
    assert params(LEAN_MODEL_ID) <= 6000
    assert get_model(FINAL_MODEL_ID).recipe.epochs <= 15
    assert get_model(FINAL_MODEL_ID).seeds == (0, 1, 2, 3, 4)


def test_each_model_changes_something_from_its_predecessor():
    for model in COURSE[1:]:
        previous = get_model(model.previous)
        assert (model.architecture != previous.architecture
                or model.recipe != previous.recipe), model.id


def test_layer_descriptions_are_readable():
    lines = [describe_layer(layer) for layer in get_model("s2_capacity").architecture]
    assert lines[0] == "conv 3x3 → 8 + BN + ReLU + dropout 0.05"
    assert "global average pool" in lines
