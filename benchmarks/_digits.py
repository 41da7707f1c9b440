"""Shared set-up for the SIS benchmarks: sklearn digits (8x8), digits upsampled to 28x28, and the
small models trained on them in seconds (fixed seeds, nothing downloaded)."""
from __future__ import annotations

import os
import sys
import time

from sklearn.datasets import load_digits

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from study_data import digits28, make_models, train  # noqa: E402

__all__ = ["Timed", "digits8", "digits28", "small_cnn", "train_mlp8", "train_torch"]


def digits8():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def train_mlp8(X, y, seed=0):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=seed).fit(X, y)


def small_cnn(seed=0):
    """The main study's CNN (two conv layers, ~8k weights)."""
    return make_models(seed)["CNN"]


def train_torch(net, X, y, *, epochs=6, seed=0, lr=2e-3):
    return train(net, X, y, epochs=epochs, seed=seed, lr=lr)


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
