"""Shared set-up for the SIS benchmarks: sklearn digits (8x8), digits upsampled to 28x28, and the
small models trained on them in seconds (fixed seeds, nothing downloaded)."""
from __future__ import annotations

import time

import numpy as np
from scipy.ndimage import zoom
from sklearn.datasets import load_digits


def digits8():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def digits28():
    """Digits upsampled to 28x28 (bilinear), values in [0, 1], shape (N, 1, 28, 28)."""
    X, y = load_digits(return_X_y=True)
    imgs = zoom(X.reshape(-1, 8, 8) / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(imgs, 0, 1)[:, None].astype(np.float32), y


def train_mlp8(X, y, seed=0):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed).fit(X, y)


def small_cnn():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


def train_torch(net, X, y, *, epochs=6, seed=0, lr=2e-3):
    import torch

    torch.manual_seed(seed)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        for i in range(0, len(Xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    return net


class Timed:
    """Wrap a function and add up the wall time spent inside it."""

    def __init__(self, fn):
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args):
        t = time.perf_counter()
        try:
            return self.fn(*args)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1
