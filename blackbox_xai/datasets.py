"""Image datasets read from files already on the machine (nothing is downloaded).

- :func:`read_idx`: one IDX file (the format of MNIST and Fashion-MNIST), gzipped or not;
- :func:`load_idx_dataset`: the four IDX files of an MNIST-style folder, as arrays;
- :func:`load_fashion_mnist`: Fashion-MNIST from the Debian package ``dataset-fashion-mnist``
  (``sudo apt-get install dataset-fashion-mnist``) or any folder holding its four files.
"""
from __future__ import annotations

import gzip
import os

import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")

# IDX: two zero bytes, a type code, the number of dimensions; then each dimension as a big-endian
# uint32; then the values, big-endian, row-major
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path) -> np.ndarray:
    """The array in the IDX file at ``path`` (``.gz`` is decompressed), in its native byte order.
    A file that is not IDX (wrong magic number), or holds fewer values than its header says, raises
    ValueError naming the file."""
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:  # a truncated gzip stream, a damaged file
        raise ValueError(f"{path} cannot be read as an IDX file ({type(exc).__name__}: {exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (magic number {data[:4].hex() or 'missing'}; "
                         "expected 0000 then a type code 08-0e and the number of dimensions)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    needed = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) < needed:
        raise ValueError(f"{path} is truncated: shape {shape} needs {needed} bytes, the file has {len(data)}")
    return np.frombuffer(data, dtype, int(np.prod(shape)), header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(folder, stem):
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return None


def load_idx_dataset(data_dir, *, hint=None):
    """``(X_train, y_train, X_test, y_test)`` from an MNIST-style folder (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-...``, each gzipped or not): images as float32 in [0, 1],
    shape ``(N, 1, 28, 28)``; labels as int64. ``hint`` is added to the error when files are
    missing (how to get them)."""
    missing = [stem for split in _SPLITS.values() for stem in split if _find(data_dir, stem) is None]
    if missing:
        raise FileNotFoundError(f"{data_dir} lacks {', '.join(missing)} (gzipped or not)"
                                + (f"; {hint}" if hint else ""))
    arrays = []
    for split in ("train", "test"):
        images, labels = (read_idx(_find(data_dir, stem)) for stem in _SPLITS[split])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{data_dir}: the {split} images {images.shape} and labels {labels.shape} do not "
                             "match (expected (N, H, W) and (N,))")
        scale = 255.0 if images.dtype == np.uint8 else 1.0
        arrays += [(images.astype(np.float32) / scale)[:, None], labels.astype(np.int64)]
    return tuple(arrays)


def load_fashion_mnist(data_dir=None):
    """Fashion-MNIST's ``(X_train, y_train, X_test, y_test)`` (60,000 and 10,000 images) from
    ``data_dir`` (default: where Debian's ``dataset-fashion-mnist`` installs it); class names are
    :data:`FASHION_MNIST_CLASSES`."""
    return load_idx_dataset(data_dir or FASHION_MNIST_DIR,
                            hint="install them with `sudo apt-get install dataset-fashion-mnist` (Debian, "
                            f"into {FASHION_MNIST_DIR}) or pass --data-dir with a folder holding the four IDX files")
