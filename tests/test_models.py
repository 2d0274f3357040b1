import json
import re

import pytest
import torch
from torch import nn

from mnist_course.assignment import PARAM_BUDGET
from mnist_course.models import COURSE, FINAL_MODEL_ID, LEAN_MODEL_ID, STEPS, get_model
from mnist_course.models.blocks import describe_layer
from mnist_course.models.network import MaskDropout


def params(model_id: str) -> int:
    return sum(p.numel() for p in get_model(model_id).network().parameters() if p.requires_grad)


@pytest.mark.parametrize("course_model", COURSE, ids=lambda m: m.id)
def test_every_model_builds_runs_forward_and_backward(course_model):
    torch.manual_seed(0)
    model = course_model.network()
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    x = torch.randn(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 10)
    torch.nn.functional.nll_loss(out, torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mask_dropout_zeroes_p_of_the_values_and_keeps_the_mean():
    torch.manual_seed(0)
    dropout = MaskDropout(0.05)
    x = torch.ones(400, 500, requires_grad=True)
    y = dropout(x)
    values = y.detach()
    assert abs(float((values == 0).float().mean()) - 0.05) < 0.002
    assert torch.unique(values).tolist() == [0.0, pytest.approx(1 / 0.95)]
    assert abs(float(values.mean()) - 1.0) < 0.005
    y.sum().backward()
    assert torch.equal(x.grad, values)  # the gradient passes through the same mask
    dropout.eval()
    assert torch.equal(dropout(x), x)


def test_three_steps_of_several_models_each_on_three_seeds_or_more():
    # The assignment's three steps, and apart from them what goes beyond it.
    assert sorted(step for step in STEPS if step != COURSE.beyond) == [1, 2, 3]
    for step in STEPS:
        assert sum(m.step == step for m in COURSE) >= 3
    for model in COURSE:  # one seed cannot tell a finding from run-to-run noise
        assert len(model.seeds) >= 3, model.id


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


@pytest.mark.parametrize("plateau_shift", [-0.6, 0.0, 0.4], ids=["below", "near", "above"])
def test_every_analysis_renders_from_sample_metrics_without_typed_numbers(tmp_path,
                                                                         plateau_shift):
    """Each Analysis renders against sample metrics whatever they say (each branch of its
    conclusions), and every figure in it comes from the metrics: the raw template holds no
    decimal number of its own."""
    from report_fixtures import write_fixture_results

    from mnist_course.report.model_results import load_results
    from mnist_course.report.render import render_analysis

    write_fixture_results(tmp_path)
    for path in tmp_path.glob("*/seed-*/metrics.json"):  # move every curve up or down
        record = json.loads(path.read_text())
        for epoch in record["epochs"]:
            epoch["test_accuracy"] = min(100.0, epoch["test_accuracy"] + plateau_shift)
        path.write_text(json.dumps(record))
    course = {r.model.id: r for r in load_results(COURSE, tmp_path)}
    for model in COURSE:
        assert not re.search(r"\d+\.\d+", model.analysis), model.id
        text, why = render_analysis(course[model.id], course.get(model.previous),
                                    course[FINAL_MODEL_ID])
        assert not why and len(text) > 80, model.id
        assert "{{" not in text and "{%" not in text
        assert re.search(r"\d+\.\d\d %", text), model.id  # at least one measured percentage


def test_with_widths_changes_only_the_named_convolutions():
    from mnist_course.models.blocks import with_widths

    lean = get_model(LEAN_MODEL_ID).architecture
    small = with_widths(lean, {5: 10, 7: 12})
    assert [layer.out_channels for layer in (small[5], small[7])] == [10, 12]
    assert [a for i, a in enumerate(small) if i not in (5, 7)] == [
        a for i, a in enumerate(lean) if i not in (5, 7)]
    assert small[5].batch_norm and small[7].kernel == lean[7].kernel
    with pytest.raises(ValueError, match="layer 2 of the spec is MaxPool"):
        with_widths(lean, {2: 4})
