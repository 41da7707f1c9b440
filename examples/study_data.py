"""The data and models of the CNN-vs-MLP study, trained with torch on the CPU with fixed seeds
(nothing is downloaded): scikit-learn's digits upsampled to 28x28, or real 28x28 images
(Fashion-MNIST from Debian's ``dataset-fashion-mnist``, or any MNIST-style folder of IDX files);
a small CNN and an MLP. Used by ``compare_cnn_mlp.py``, ``lrp_fisher_vectors.py`` and the
benchmarks."""
from __future__ import annotations

import sys
import time

import numpy as np

DIGIT_NAMES = tuple(str(d) for d in range(10))


def digits28():
    """scikit-learn's digits upsampled to 28x28 (bilinear), in [0, 1], shape (N, 1, 28, 28)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = zoom(X.reshape(-1, 8, 8) / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(images, 0, 1)[:, None].astype(np.float32), y


def load_study_data(dataset="digits", data_dir=None):
    """``(X_train, y_train, X_test, y_test, class_names, description)`` of the study: images
    float32 in [0, 1], shape (N, 1, 28, 28). ``dataset``: "digits" (scikit-learn's, upsampled,
    split 70/30) or "fashion-mnist" (its own 60,000/10,000 split; ``data_dir``: a folder holding
    the four IDX files, default Debian's); any other MNIST-style folder via ``data_dir`` with
    ``dataset="idx"``."""
    if dataset == "digits":
        from sklearn.model_selection import train_test_split

        X, y = digits28()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
        return X_train, y_train, X_test, y_test, DIGIT_NAMES, "sklearn digits upsampled to 28x28"
    from blackbox_xai.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist, load_idx_dataset

    if dataset == "fashion-mnist":
        return (*load_fashion_mnist(data_dir), FASHION_MNIST_CLASSES, "Fashion-MNIST (28x28)")
    if dataset == "idx":
        if data_dir is None:
            raise ValueError("dataset 'idx' needs data_dir: a folder holding the four IDX files")
        return (*load_idx_dataset(data_dir), DIGIT_NAMES, f"IDX images from {data_dir}")
    raise ValueError(f"dataset must be 'digits', 'fashion-mnist' or 'idx', got {dataset!r}")


def make_models(seed=0):
    import torch
    import torch.nn as nn

    with torch.random.fork_rng(devices=[]):  # the caller's global torch RNG is left as it was
        torch.manual_seed(seed)  # the initial weights
        cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 10))
    return {"CNN": cnn, "MLP": mlp}


def train(net, X, y, *, epochs, seed=0, lr=2e-3, batch=64, name=None):
    """Train ``net`` in place (one CPU thread: reproducible sums); with ``name``, a line per epoch
    on stderr (loss, time)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # multithreaded CPU kernels sum in varying order: not reproducible
    try:
        with torch.random.fork_rng(devices=[]):  # seeded (dropout, if any); the caller's RNG kept
            torch.manual_seed(seed)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            order = torch.Generator().manual_seed(seed)
            net.train()
            start = time.perf_counter()
            for epoch in range(epochs):
                perm = torch.randperm(len(Xt), generator=order)
                total = 0.0
                for i in range(0, len(Xt), batch):
                    idx = perm[i:i + batch]
                    opt.zero_grad()
                    loss = torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
                    loss.backward()
                    opt.step()
                    total += loss.item() * len(idx)
                if name:
                    elapsed = time.perf_counter() - start
                    left = elapsed / (epoch + 1) * (epochs - epoch - 1)
                    print(f"  {name} epoch {epoch + 1}/{epochs}: loss {total / len(Xt):.3f}, "
                          f"{elapsed:.0f} s, about {left:.0f} s left", file=sys.stderr, flush=True)
            net.eval()
    finally:
        torch.set_num_threads(threads)
    return net


def accuracy(net, X, y):
    import torch

    with torch.no_grad():
        return float((net(torch.from_numpy(X)).argmax(1).numpy() == y).mean())
