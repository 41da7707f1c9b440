"""Invariants every predict-only explainer must keep, driven from one table.

Each invariant is a checker function; every checker has a companion test showing that it fails on
a deliberately broken explainer, so none of them can pass vacuously.

The table's models (``l2``, ``total``) compute each row by itself, so any chunking of the calls gives
the same bits: the checks below hold the library's own arithmetic to bit-identity. Models whose
rows depend on their call (BLAS) are held to ``helpers.assert_close_across_calls`` instead.
"""
import pickle

import numpy as np
import pytest

from blackbox_xai import Model, ThreadExecutor
from helpers import EXPLAINERS, RESHAPE, X_SMALL, assert_same, l2, total


def check_batch_size_invariance(make, X, model=l2):
    ref = make(model).explain_batch(X)
    for batch_size in (1, 5, 64):
        assert_same(ref, make(model, batch_size=batch_size).explain_batch(X))


def check_executor_invariance(make, X, model=l2):
    assert_same(make(model).explain_batch(X), make(model, executor=ThreadExecutor(2), batch_size=4).explain_batch(X))


def check_seed_reproducibility(make, X, model=l2):
    assert_same(make(model, random_state=3).explain_batch(X), make(model, random_state=3).explain_batch(X))


def check_batch_equals_single(make, X, model=l2):
    explainer = make(model)
    assert_same(explainer.explain_batch(X), [explainer.explain(x) for x in X])


def check_picklable(make, X, model=l2):
    """An explainer pickles (for multiprocessing and Ray) and explains the same after the trip."""
    explainer = make(model)
    assert_same(explainer.explain_batch(X), pickle.loads(pickle.dumps(explainer)).explain_batch(X))


class Float32L2(Model):
    """l2 of the rows (flattened) after a conversion to float32, declared as ``input_dtype``."""

    input_dtype = np.dtype(np.float32)

    def __init__(self, declare=True):
        super().__init__("Float32L2")
        self.seen = set()
        if not declare:
            self.input_dtype = None

    def _predict(self, batch):
        self.seen.add(batch.dtype)
        return l2(batch.reshape(len(batch), -1).astype(np.float32)).astype(np.float64)


def check_input_dtype(make, X, model=None):
    """A model that declares the dtype it converts to is handed inputs in it, with results
    identical to handing it float64 inputs."""
    declared, plain = Float32L2(), Float32L2(declare=False)
    assert_same(make(declared).explain_batch(X), make(plain).explain_batch(X))
    assert declared.seen == {np.dtype(np.float32)} and plain.seen == {np.dtype(np.float64)}


CHECKS = [check_batch_size_invariance, check_executor_invariance, check_seed_reproducibility,
          check_batch_equals_single, check_picklable, check_input_dtype]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_invariant(name, check):
    check(EXPLAINERS[name], X_SMALL.reshape((-1,) + RESHAPE.get(name, (12,))))


# --- companions: each checker catches a broken explainer ----------------------------------------
def batch_dependent(batch):
    """A broken model: its answer depends on how many rows share the call."""
    return l2(batch) + 1e-3 * len(batch)


class Stateful:
    """A broken model: its answer drifts with every call."""

    def __init__(self):
        self.calls = 0

    def __call__(self, batch):
        self.calls += 1
        return l2(batch) * (1 + 1e-3 * self.calls)


@pytest.mark.parametrize("check,model", [
    (check_batch_size_invariance, batch_dependent),
    (check_executor_invariance, batch_dependent),
    (check_seed_reproducibility, Stateful()),
    (check_batch_equals_single, batch_dependent),
], ids=lambda v: getattr(v, "__name__", type(v).__name__))
def test_checker_catches_broken_explainer(check, model):
    with pytest.raises(AssertionError):
        check(EXPLAINERS["sis-exact"], X_SMALL, model=model)


def test_pickle_check_catches_an_unpicklable_explainer():
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        check_picklable(EXPLAINERS["kernel-shap"], X_SMALL, model=lambda b: l2(b))


# --- clear errors on bad input, for every explainer ---------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_bad_input_errors(name):
    explainer = EXPLAINERS[name](total)
    with pytest.raises(ValueError, match="NaN"):
        explainer.explain(np.array([1.0, 2.0, np.inf]))
    with pytest.raises(ValueError, match="must hold numbers"):
        explainer.explain(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="at least 2 axis"):
        explainer.explain_batch(np.ones(3))
    with pytest.raises(TypeError, match="cannot use"):
        EXPLAINERS[name](model=object()).explain(np.ones(3))
