"""The engine's parts on their own: the epoch plan and the training step."""

from __future__ import annotations

import pytest
import torch

from mnist_course.course.recipe import Augmentation, Recipe
from mnist_course.training.data import apply_affine, plan_epoch, random_affine
from mnist_course.training.engine import make_optimizer, train_step


def test_an_epoch_plan_holds_the_draws_training_made_batch_by_batch():
    augmentation = Augmentation(rotation=10, translate=0.1, scale=0.1, shear=5)
    images = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(9))
    plan = plan_epoch(50, 16, augmentation, torch.Generator().manual_seed(4),
                      torch.device("cpu"))
    # As training drew them before plans: the permutation, then each batch's affine draws.
    by_hand = torch.Generator().manual_seed(4)
    order = torch.randperm(50, generator=by_hand).split(16)
    assert len(plan) == 4 and [len(index) for index in plan.batches] == [16, 16, 16, 2]
    for (index, affine), expected in zip(plan, order, strict=True):
        assert torch.equal(index, expected)
        assert torch.equal(apply_affine(images[index], affine),
                           random_affine(images[expected], augmentation, by_hand))


def test_a_plan_without_augmentation_draws_only_the_permutation():
    generator = torch.Generator().manual_seed(1)
    plan = plan_epoch(10, 4, Augmentation(), generator, torch.device("cpu"))
    assert plan.affines == (None, None, None)
    one_permutation = torch.Generator().manual_seed(1)
    torch.randperm(10, generator=one_permutation)
    assert torch.equal(generator.get_state(), one_permutation.get_state())
    images = torch.rand(4, 1, 28, 28)
    assert apply_affine(images, None) is images


def test_a_training_step_keeps_its_numbers_on_the_device(monkeypatch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 10, 28), torch.nn.Flatten())
    optimizer = make_optimizer(model, Recipe(lr=0.1))
    images, labels = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    expected = torch.nn.functional.cross_entropy(model(images), labels) * 8

    def no_sync(self):
        raise AssertionError("train_step read a number back from the device")

    monkeypatch.setattr(torch.Tensor, "item", no_sync)
    monkeypatch.setattr(torch.Tensor, "tolist", no_sync)
    loss_sum, correct = train_step(model, optimizer, images, labels)
    monkeypatch.undo()
    assert loss_sum.shape == () and correct.shape == () and correct.dtype == torch.int64
    assert loss_sum.item() == pytest.approx(expected.item())
    assert 0 <= correct.item() <= 8
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
