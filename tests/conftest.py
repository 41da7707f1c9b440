import numpy as np
import pytest


def l2(batch):
    """L2 norm over the last axis (the spec's L2 model)."""
    return np.linalg.norm(batch, axis=-1)


def total(batch):
    """Sum of all entries per row (the spec's SUM model)."""
    return batch.reshape(len(batch), -1).sum(axis=1)


def linreg(batch):
    """Dot product with [1, 2, 0, 1] (the spec's LINREG model)."""
    return batch @ np.array([1.0, 2.0, 0.0, 1.0])


@pytest.fixture(scope="session")
def digits_mlp():
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X[:1200], y[:1200])
    return clf, X[1200:], y[1200:]
