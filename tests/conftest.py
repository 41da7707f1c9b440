"""Fixtures shared by the tests (helpers, models and tables are in helpers.py)."""
import os

import pytest


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
    # workers unpickle the tests' own models (helpers.l2, ...): let them import tests/
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=256 * 2**20,
                 log_to_driver=False)
    yield ray
    ray.shutdown()
