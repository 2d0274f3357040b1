"""End to end on real MNIST subsets: the engine, the metrics JSON, resume, the CLI."""

import json

import pytest
import torch

from mnist_course import cli
from mnist_course.models import get_model
from mnist_course.store.files import SCHEMA_VERSION, load_metrics, load_weights
from mnist_course.summary import check_requirements
from mnist_course.training.engine import fit
from mnist_course.training.train_model import run_course_model


@pytest.fixture(autouse=True)
def _two_threads():
    # Same seed, same device, same thread count -> the same numbers.
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)


def test_train_skeleton_one_epoch_on_2000_images_writes_metrics(mnist_dir, tmp_path, capsys):
    code = cli.main(["train", "s1_skeleton", "--epochs", "1", "--train-subset", "2000",
                     "--data-dir", str(mnist_dir), "--results-dir", str(tmp_path),
                     "--no-progress"])
    assert code == 0
    path = tmp_path / "s1_skeleton" / "seed-0" / "metrics.json"
    record = load_metrics(path)
    assert record["schema_version"] == SCHEMA_VERSION
    assert record["model_id"] == "s1_skeleton" and record["seed"] == 0
    assert record["params"] == 19028 and record["has_linear"] is False
    assert record["quick_check"] is True and record["train_subset"] == 2000
    assert record["recipe"]["epochs"] == 1 and len(record["epochs"]) == 1
    epoch = record["epochs"][0]
    assert 0 <= epoch["test_accuracy"] <= 100 and epoch["seconds"] > 0
    assert set(record["provenance"]) >= {"torch", "torchvision", "device", "device_name",
                                         "threads", "git_commit", "started_at", "finished_at",
                                         "wall_seconds"}
    assert record["provenance"]["threads"] == 2
    confusion = record["evaluation"]["confusion_matrix"]
    assert sum(map(sum, confusion)) == 10000
    assert not check_requirements(record)[2].passed  # a quick check can never pass
    weights = load_weights(tmp_path / "s1_skeleton" / "seed-0" / "weights.pt")
    model = get_model("s1_skeleton").network()
    model.load_state_dict(weights)
    assert not (tmp_path / "s1_skeleton" / "seed-0" / "checkpoint.pt").exists()
    assert "wrote" in capsys.readouterr().out


def _epoch_numbers(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


class _KillAfterFirstEpoch(BaseException):
    """A kill, as Ctrl-C's KeyboardInterrupt is: not an Exception, so the run is not stored
    as failed (an error in the model's code is) and its checkpoint is resumed."""


def test_interrupted_run_resumes_to_the_same_numbers(mnist, tmp_path):
    data = mnist.subset(1500, seed=0)
    course_model = get_model("s3_final")  # augmentation, dropout-free, one-cycle schedule
    full = run_course_model(course_model, data, tmp_path / "a", seed=3, epochs=2,
                            progress=False)

    def kill(record):
        if record["epoch"] == 1:
            raise _KillAfterFirstEpoch

    with pytest.raises(_KillAfterFirstEpoch):
        run_course_model(course_model, data, tmp_path / "b", seed=3, epochs=2, progress=False,
                         on_epoch=kill)
    run_dir = tmp_path / "b" / "s3_final" / "seed-3"
    assert (run_dir / "checkpoint.pt").exists()
    assert not (run_dir / "metrics.json").exists()  # a killed run never looks complete
    resumed = run_course_model(course_model, data, tmp_path / "b", seed=3, epochs=2,
                               progress=False)
    assert _epoch_numbers(resumed["epochs"]) == _epoch_numbers(full["epochs"])
    assert resumed["lr_trace"] == full["lr_trace"]
    assert resumed["evaluation"]["confusion_matrix"] == full["evaluation"]["confusion_matrix"]
    assert not (run_dir / "checkpoint.pt").exists()


def test_same_seed_same_numbers_and_fit_returns_records(mnist):
    data = mnist.subset(600, seed=1)
    recipe = get_model("s2_dropout").recipe
    from dataclasses import replace

    recipe = replace(recipe, epochs=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = get_model("s2_dropout").network()
        records, trace = fit(model, recipe, data, seed=5, progress=False)
        runs.append(_epoch_numbers(records))
    assert runs[0] == runs[1]
    assert trace and trace[0][0] == 0.0


def test_diverging_recipe_fails_clearly_and_is_recorded(mnist, tmp_path):
    from dataclasses import replace

    from mnist_course.errors import DivergedError

    unstable = replace(get_model("s1_lightest"), recipe=replace(get_model("s1_lightest").recipe,
                                                                 lr=1e6))
    with pytest.raises(DivergedError, match="diverged"):
        run_course_model(unstable, mnist.subset(500), tmp_path, epochs=1, progress=False)
    record = json.loads((tmp_path / "s1_lightest" / "seed-0" / "metrics.json").read_text())
    assert record["status"] == "failed" and "diverged" in record["failure"]


def test_quick_check_never_overwrites_a_course_result(mnist, tmp_path):
    from conftest import fake_record

    from mnist_course.store.files import write_json

    write_json(tmp_path / "s1_skeleton" / "seed-0" / "metrics.json",
               fake_record("s1_skeleton"))
    from mnist_course.errors import UsageError

    with pytest.raises(UsageError, match="full course run"):
        run_course_model(get_model("s1_skeleton"), mnist.subset(100), tmp_path, epochs=1,
                         progress=False)


def test_one_cycle_ends_early_and_holds_its_final_learning_rate():
    from dataclasses import replace

    from mnist_course.course.recipe import Recipe
    from mnist_course.training.data import MNISTData

    generator = torch.Generator().manual_seed(0)
    data = MNISTData(torch.rand(64, 1, 28, 28, generator=generator),
                     torch.randint(0, 10, (64,), generator=generator),
                     torch.rand(32, 1, 28, 28, generator=generator),
                     torch.randint(0, 10, (32,), generator=generator))
    recipe = Recipe(epochs=3, batch_size=16, lr=0.1, schedule="onecycle", anneal_epochs=2)
    torch.manual_seed(0)
    _, trace = fit(get_model("s3_lean").network(), recipe, data, progress=False)
    final_lr = 0.1 / recipe.div_factor / recipe.final_div_factor
    third_epoch = [lr for epoch, lr in trace if epoch >= 2]
    assert third_epoch and all(lr == pytest.approx(final_lr) for lr in third_epoch)
    assert max(lr for _, lr in trace) == pytest.approx(0.1, rel=0.05)
    # the whole-run cycle (the default) is still annealing in its last epoch
    _, full = fit(get_model("s3_lean").network(), replace(recipe, anneal_epochs=0), data,
                  progress=False)
    assert [lr for epoch, lr in full if epoch >= 2][0] > final_lr * 2


def test_recalibrated_batch_norm_holds_the_statistics_of_the_given_images():
    from mnist_course.training.data import normalize
    from mnist_course.training.engine import recalibrate_batch_norm

    torch.manual_seed(0)
    model = get_model("s3_lean").network()
    first_conv, first_norm = model.layers[0], model.layers[1]
    assert isinstance(first_norm, torch.nn.BatchNorm2d)
    images = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k}
    recalibrate_batch_norm(model, images, batch_size=16)
    with torch.no_grad():
        features = first_conv(normalize(images))  # (64, C, 26, 26): what the norm sees
    batches = features.split(16)
    expected_mean = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    expected_var = torch.stack([b.var(dim=(0, 2, 3)) for b in batches]).mean(0)
    assert torch.allclose(first_norm.running_mean, expected_mean, atol=1e-5)
    assert torch.allclose(first_norm.running_var, expected_var, rtol=1e-3)
    # the weights are untouched, and the norms are back to their usual settings
    after = {k: v for k, v in model.state_dict().items() if "running" not in k
             and "num_batches" not in k}
    assert all(torch.equal(after[k], weights[k]) for k in after)
    assert first_norm.momentum == 0.1 and not first_norm.training


def test_weight_average_is_what_is_tested_and_kept_and_resumes_exactly(mnist, tmp_path):
    import dataclasses

    from mnist_course.course.definition import CourseModel

    base = get_model("s3_final")  # batch-norm statistics recomputed for the averaged weights
    averaged = CourseModel(id="s3_ema_probe", step=3, title="probe", target=("t",),
                           architecture=base.architecture, analysis="",
                           recipe=dataclasses.replace(base.recipe, ema_decay=0.99))
    data = mnist.subset(1500, seed=0)
    plain = run_course_model(base, data, tmp_path / "p", seed=1, epochs=2, progress=False)
    full = run_course_model(averaged, data, tmp_path / "a", seed=1, epochs=2, progress=False)
    # The same training (same draws, same steps), a different network under test.
    assert [r["train_loss"] for r in full["epochs"]] == [r["train_loss"]
                                                          for r in plain["epochs"]]
    assert [r["test_loss"] for r in full["epochs"]] != [r["test_loss"] for r in plain["epochs"]]
    # The stored weights are the average: testing them again gives the last epoch's numbers.
    model = averaged.network()
    model.load_state_dict(load_weights(tmp_path / "a" / "s3_ema_probe" / "seed-1" / "weights.pt"))
    from mnist_course.training.engine import evaluate
    again = evaluate(model, data.test_images, data.test_labels)
    assert round(again.accuracy, 4) == full["epochs"][-1]["test_accuracy"]

    def kill(record):
        if record["epoch"] == 1:
            raise _KillAfterFirstEpoch

    with pytest.raises(_KillAfterFirstEpoch):
        run_course_model(averaged, data, tmp_path / "b", seed=1, epochs=2, progress=False,
                         on_epoch=kill)
    resumed = run_course_model(averaged, data, tmp_path / "b", seed=1, epochs=2, progress=False)
    assert _epoch_numbers(resumed["epochs"]) == _epoch_numbers(full["epochs"])


def test_weight_average_warms_up_then_follows_its_decay():
    from mnist_course.training.engine import WeightAverage

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    average = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model)  # decay min(0.9, 2/11): mostly the new weights
    assert average.network.weight.item() == pytest.approx(1 - 2 / 11)
    for _ in range(200):
        average.update(model)
    assert average.network.weight.item() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        model.weight.fill_(2.0)
    average.update(model)  # now the full decay: one tenth of the way
    assert average.network.weight.item() == pytest.approx(1.1, abs=1e-5)


def test_adam_betas_reach_the_optimizer():
    from mnist_course.course.recipe import Recipe
    from mnist_course.training.engine import make_optimizer

    model = torch.nn.Linear(2, 2)
    optimizer = make_optimizer(model, Recipe(optimizer="adam", lr=0.01, beta1=0.7, beta2=0.9))
    assert optimizer.param_groups[0]["betas"] == (0.7, 0.9)
