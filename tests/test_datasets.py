"""The IDX reader and the MNIST-style folder loader, on small files the tests write themselves."""
import numpy as np
import pytest

from blackbox_xai.datasets import load_fashion_mnist, load_idx_dataset, read_idx
from helpers import write_idx, write_mnist_folder


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_files_read_back_gzipped_or_not(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / name, images)), images)
    floats = np.array([[1.5, -2.25], [3.0, 1e-3]], dtype=np.float32)
    back = read_idx(write_idx(tmp_path / ("f" + name), floats, 0x0D))
    assert back.dtype == np.float32 and back.dtype.isnative
    np.testing.assert_array_equal(back, floats)
    shorts = np.array([-3, 300, 7], dtype=np.int16)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / ("s" + name), shorts, 0x0B)), shorts)


def test_files_that_are_not_idx_or_are_cut_short_are_refused(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match=r"junk is not an IDX file \(magic number 504b0304"):
        read_idx(tmp_path / "junk")
    path = write_idx(tmp_path / "cut", np.zeros((10, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"cut is truncated: shape \(10, 28, 28\) needs 7856 bytes, the file has 1000"):
        read_idx(path)
    gz = write_idx(tmp_path / "cut.gz", np.zeros((10, 28, 28), dtype=np.uint8))
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(ValueError, match="cut.gz cannot be read as an IDX file"):
        read_idx(gz)
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match="its header needs 16 bytes"):
        read_idx(tmp_path / "short")


def test_an_mnist_style_folder_loads_as_arrays(tmp_path):
    X_train, y_train, X_test, y_test = load_idx_dataset(write_mnist_folder(tmp_path / "d", gz=False))
    assert X_train.shape == (40, 1, 28, 28) and X_test.shape == (20, 1, 28, 28)
    assert X_train.dtype == np.float32 and X_train.max() == 1.0 and y_train.dtype == np.int64
    np.testing.assert_array_equal(y_test, np.arange(20) % 10)


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)
    folder = write_mnist_folder(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        load_idx_dataset(folder)
