import pytest
import torch
from conftest import write_tiny_mnist

from mnist_course.course.recipe import Augmentation
from mnist_course.errors import DataError
from mnist_course.training.data import check_split, load_mnist, random_affine
from mnist_course.training.mnist_files import resolve_data_dir, verify_raw_files


def test_verify_accepts_tiny_files_with_their_counts(tmp_path):
    counts = write_tiny_mnist(tmp_path)
    verify_raw_files(tmp_path, counts)  # no error


def test_verify_reports_wrong_count_and_how_to_fix(tmp_path):
    write_tiny_mnist(tmp_path)
    with pytest.raises(DataError) as error:
        verify_raw_files(tmp_path)  # expects 60,000 / 10,000
    message = str(error.value)
    assert "holds 20 items, expected 60000" in message
    assert "--data-dir" in message and "\n" not in message


def test_missing_folder_without_download_is_one_clear_line(tmp_path):
    with pytest.raises(DataError) as error:
        load_mnist(tmp_path / "nowhere", download=False)
    assert "MNIST is not in" in str(error.value) and "\n" not in str(error.value)


def test_check_split_catches_label_image_mismatch():
    images = torch.zeros(12, 28, 28, dtype=torch.uint8)
    with pytest.raises(DataError, match="11 labels for 12 images"):
        check_split(images, torch.zeros(11, dtype=torch.int64), 12, "train")
    with pytest.raises(DataError, match="outside 0-9"):
        check_split(images, torch.full((12,), 12, dtype=torch.int64), 12, "train")


def test_data_dir_resolution_order(monkeypatch):
    monkeypatch.setenv("MNIST_COURSE_DATA", "/from/env")
    assert str(resolve_data_dir("/from/option")) == "/from/option"
    assert str(resolve_data_dir(None)) == "/from/env"
    monkeypatch.delenv("MNIST_COURSE_DATA")
    assert str(resolve_data_dir(None)) == "data"


def _digit_batch():
    images = torch.zeros(8, 1, 28, 28)
    images[:, :, 6:22, 12:16] = 1.0  # a vertical stroke, like a "1"
    return images


def test_zero_augmentation_returns_input_unchanged():
    images = _digit_batch()
    out = random_affine(images, Augmentation(), torch.Generator().manual_seed(0))
    assert out is images


def test_augmentation_shapes_range_and_determinism():
    images = _digit_batch()
    aug = Augmentation(rotation=15, translate=0.1, scale=0.1, shear=5)
    first = random_affine(images, aug, torch.Generator().manual_seed(3))
    again = random_affine(images, aug, torch.Generator().manual_seed(3))
    other = random_affine(images, aug, torch.Generator().manual_seed(4))
    assert first.shape == images.shape
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    # each image gets its own transform
    assert not torch.equal(first[0], first[1])


def test_tiny_rotation_is_close_to_identity():
    images = _digit_batch()
    out = random_affine(images, Augmentation(rotation=1e-6), torch.Generator().manual_seed(0))
    assert torch.allclose(out, images, atol=1e-4)


def test_real_mnist_passes_checks(mnist):
    assert mnist.train_images.shape == (60000, 1, 28, 28)
    assert mnist.test_labels.shape == (10000,)
    assert torch.bincount(mnist.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958,
                                                          1028, 974, 1009]
    assert abs(float(mnist.train_images.mean()) - 0.1307) < 1e-3
    subset = mnist.subset(2000, seed=0)
    assert len(subset.train_labels) == 2000 and subset.train_subset == 2000


def test_truncated_raw_file_is_caught_before_loading(tmp_path):
    counts = write_tiny_mnist(tmp_path)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte is .* truncated or corrupted"):
        verify_raw_files(tmp_path, counts)


def test_labels_file_swapped_for_images_file(tmp_path):
    counts = write_tiny_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes((raw / "train-images-idx3-ubyte").read_bytes())
    with pytest.raises(DataError, match="train-labels-idx1-ubyte has magic number 2051"):
        verify_raw_files(tmp_path, counts)
