import os

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


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray runtime for the session: 2 CPUs, a small object store, no dashboard."""
    ray = pytest.importorskip("ray")
    # workers unpickle the tests' own models (conftest.l2, ...): let them import tests/
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20,
                 log_to_driver=False)
    yield ray
    ray.shutdown()
