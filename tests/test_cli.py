import subprocess
import sys

import pytest

from mnist_course import cli
from mnist_course.models import COURSE


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "mnist_course", *args], capture_output=True,
                          text=True, timeout=120)


def test_list_shows_every_model_with_step_and_params():
    result = run_cli("list")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == COURSE.ids()
    assert lines[0].split()[:3] == ["s1_skeleton", "step", "1"]
    assert "19,028 params" in lines[0]


@pytest.mark.parametrize("args, message", [
    (["train", "s9_nothing"], "unknown model id 's9_nothing'; valid ids: s1_skeleton"),
    (["train", "s1_skeleton", "--epochs", "zero"], "expected a whole number"),
    (["train", "s1_skeleton", "--train-subset", "-5"], "expected a number >= 1"),
    (["train", "s1_skeleton", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = run_cli(*args, "--results-dir", str(tmp_path)) if args[0] == "train" else run_cli(
        *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_data_is_one_line(tmp_path, monkeypatch):
    result = run_cli("train", "s1_skeleton", "--data-dir", str(tmp_path / "empty"),
                     "--results-dir", str(tmp_path), "--device", "cpu")
    assert result.returncode == 2
    assert "could not be downloaded" in result.stderr or "MNIST is not in" in result.stderr
    assert "Traceback" not in result.stderr


def test_cuda_asked_for_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run_cli("train", "s1_skeleton", "--device", "cuda", "--results-dir", str(tmp_path))
    assert result.returncode == 2 and "no usable CUDA GPU" in result.stderr


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--train-subset" in out and "resumes" in out
