"""The data and models of the CNN-vs-MLP study: scikit-learn's digits upsampled to 28x28, a small
CNN and an MLP, trained with torch on the CPU with fixed seeds (nothing is downloaded). Used by
``compare_cnn_mlp.py``, ``lrp_fisher_vectors.py`` and the benchmarks."""
from __future__ import annotations

import numpy as np


def digits28():
    """scikit-learn's digits upsampled to 28x28 (bilinear), in [0, 1], shape (N, 1, 28, 28)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = zoom(X.reshape(-1, 8, 8) / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(images, 0, 1)[:, None].astype(np.float32), y


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


def train(net, X, y, *, epochs, seed=0, lr=2e-3, batch=64):
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
            for _ in range(epochs):
                perm = torch.randperm(len(Xt), generator=order)
                for i in range(0, len(Xt), batch):
                    idx = perm[i:i + batch]
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
                    opt.step()
            net.eval()
    finally:
        torch.set_num_threads(threads)
    return net


def accuracy(net, X, y):
    import torch

    with torch.no_grad():
        return float((net(torch.from_numpy(X)).argmax(1).numpy() == y).mean())
