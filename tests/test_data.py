"""MNIST loading: the .npz and the official IDX files agree, and every damaged copy fails with the remedy."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from resources import require

from core.data import ENV_VAR, IDX_FILES, NPZ_KEYS, DatasetError, load_mnist, mnist_available

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the repository
# The official label counts, as documented in ../shared/data/README.md (a reference independent of this code).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def idx_folder():
    folder = SHARED_DATA / "mnist-idx"
    require(all((folder / name).exists() for name in IDX_FILES.values()), f"The official IDX files are not in {folder}.")
    return folder


@pytest.fixture
def idx_copy(idx_folder, tmp_path):
    """A writable copy of the four IDX files, to damage one of them."""
    copy = tmp_path / "mnist-idx"
    shutil.copytree(idx_folder, copy)
    for path in copy.iterdir():
        path.chmod(0o644)
    return copy


def blank_arrays(**changes):
    """Keras-style arrays of MNIST's dtypes and shapes (blank images), then `changes` applied."""
    arrays = {
        "x_train": np.zeros((60_000, 28, 28), np.uint8),
        "y_train": np.zeros(60_000, np.uint8),
        "x_test": np.zeros((10_000, 28, 28), np.uint8),
        "y_test": np.zeros(10_000, np.uint8),
    }
    arrays.update(changes)
    return arrays


def assert_names_the_remedy(error: DatasetError) -> None:
    assert ENV_VAR in str(error)
    assert "npz" in str(error) and "IDX" in str(error)


class TestLoadMnist:
    def test_npz_has_mnist_shapes_and_dtypes(self, mnist):
        assert mnist.x_train.shape == (60_000, 28, 28) and mnist.x_train.dtype == np.uint8
        assert mnist.y_train.shape == (60_000,) and mnist.y_train.dtype == np.uint8
        assert mnist.x_test.shape == (10_000, 28, 28) and mnist.x_test.dtype == np.uint8
        assert mnist.y_test.shape == (10_000,) and mnist.y_test.dtype == np.uint8

    def test_labels_have_the_official_counts(self, mnist):
        assert np.bincount(mnist.y_train, minlength=10).tolist() == TRAIN_LABEL_COUNTS
        assert np.bincount(mnist.y_test, minlength=10).tolist() == TEST_LABEL_COUNTS

    def test_images_are_white_ink_on_black(self, mnist):
        corners = mnist.x_test[:, [0, 0, -1, -1], [0, -1, 0, -1]]

        assert corners.max() == 0
        assert mnist.x_test.max() == 255

    def test_idx_folder_gives_the_same_arrays_as_the_npz(self, mnist, idx_folder):
        from_idx = load_mnist(idx_folder)

        for key in NPZ_KEYS:
            assert getattr(from_idx, key).dtype == np.uint8
            np.testing.assert_array_equal(getattr(from_idx, key), getattr(mnist, key))

    def test_source_names_where_the_arrays_came_from(self, idx_folder):
        assert load_mnist(idx_folder).source == str(idx_folder.resolve())

    def test_reads_the_path_in_the_environment_variable(self, idx_folder, monkeypatch):
        monkeypatch.setenv(ENV_VAR, str(idx_folder))

        assert load_mnist().source == str(idx_folder.resolve())

    def test_arrays_are_read_only_so_callers_cannot_corrupt_the_shared_copy(self, mnist):
        with pytest.raises(ValueError):
            mnist.x_train[0, 0, 0] = 1


class TestDamagedFiles:
    def test_missing_path_names_the_remedy(self, tmp_path):
        with pytest.raises(DatasetError, match="does not exist") as raised:
            load_mnist(tmp_path / "nowhere.npz")

        assert_names_the_remedy(raised.value)

    def test_npz_lacking_keys_names_them_and_the_remedy(self, tmp_path):
        path = tmp_path / "partial.npz"
        arrays = blank_arrays()
        np.savez_compressed(path, x_train=arrays["x_train"], y_train=arrays["y_train"])

        with pytest.raises(DatasetError, match="x_test, y_test") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_file_that_is_not_an_npz_names_the_remedy(self, tmp_path):
        path = tmp_path / "mnist.npz"
        path.write_text("<html>404 Not Found</html>")

        with pytest.raises(DatasetError, match="not a readable .npz") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_wrong_image_shape_names_the_expected_shape_and_the_remedy(self, tmp_path):
        path = tmp_path / "wrong_shape.npz"
        np.savez_compressed(path, **blank_arrays(x_test=np.zeros((10_000, 32, 32), np.uint8)))

        with pytest.raises(DatasetError, match=r"\(10000, 28, 28\)") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_wrong_number_of_images_is_refused(self, tmp_path):
        path = tmp_path / "short.npz"
        np.savez_compressed(path, **blank_arrays(x_train=np.zeros((100, 28, 28), np.uint8), y_train=np.zeros(100, np.uint8)))

        with pytest.raises(DatasetError, match="shapes") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_float_images_are_refused_as_the_wrong_dtype(self, tmp_path):
        path = tmp_path / "floats.npz"
        np.savez_compressed(path, **blank_arrays(x_train=np.zeros((100, 28, 28), np.float32)))

        with pytest.raises(DatasetError, match="uint8") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_label_above_nine_is_refused(self, tmp_path):
        labels = np.zeros(10_000, np.uint8)
        labels[5] = 10
        path = tmp_path / "labels.npz"
        np.savez_compressed(path, **blank_arrays(y_test=labels))

        with pytest.raises(DatasetError, match="0-9") as raised:
            load_mnist(path)

        assert_names_the_remedy(raised.value)

    def test_truncated_idx_file_names_the_remedy(self, idx_copy):
        labels = idx_copy / IDX_FILES["y_test"]
        raw = gzip.decompress(labels.read_bytes())
        labels.write_bytes(gzip.compress(raw[: len(raw) // 2]))

        with pytest.raises(DatasetError, match="truncated") as raised:
            load_mnist(idx_copy)

        assert labels.name in str(raised.value)
        assert_names_the_remedy(raised.value)

    def test_cut_off_gzip_download_names_the_remedy(self, idx_copy):
        images = idx_copy / IDX_FILES["x_test"]
        images.write_bytes(images.read_bytes()[:100_000])

        with pytest.raises(DatasetError, match="gzip") as raised:
            load_mnist(idx_copy)

        assert images.name in str(raised.value)
        assert_names_the_remedy(raised.value)

    def test_idx_file_with_a_foreign_header_is_refused(self, idx_copy):
        labels = idx_copy / IDX_FILES["y_train"]
        raw = bytearray(gzip.decompress(labels.read_bytes()))
        raw[2] = 0x0D  # the IDX type code of float32
        labels.write_bytes(gzip.compress(bytes(raw)))

        with pytest.raises(DatasetError, match="not an IDX file") as raised:
            load_mnist(idx_copy)

        assert_names_the_remedy(raised.value)

    def test_folder_missing_an_idx_file_names_it(self, idx_copy):
        (idx_copy / IDX_FILES["y_train"]).unlink()

        with pytest.raises(DatasetError, match=IDX_FILES["y_train"]) as raised:
            load_mnist(idx_copy)

        assert_names_the_remedy(raised.value)


class TestMnistAvailable:
    def test_true_for_an_existing_copy(self, idx_folder):
        assert mnist_available(idx_folder)

    def test_false_for_a_missing_path(self, tmp_path):
        assert not mnist_available(tmp_path / "nowhere.npz")

    def test_follows_the_environment_variable(self, tmp_path, monkeypatch):
        monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere.npz"))

        assert not mnist_available()
