"""Invariants every predict-only explainer must keep, driven from one table.

Each invariant is a checker function; every checker has a companion test showing that it fails on
a deliberately broken explainer, so none of them can pass vacuously.
"""
import numpy as np
import pytest

from blackbox_xai import SISExplainer, ThreadExecutor
from conftest import l2, total

RNG = np.random.default_rng(7)
X_SMALL = RNG.random((3, 12)) * 2.0


def _sis(mode):
    return lambda model=l2, **kw: SISExplainer(model, 2.5, mode=mode, **kw)


EXPLAINERS = {"sis-exact": _sis("exact"), "sis-fast": _sis("fast")}


def assert_same(a, b):
    """Two explain_batch results are identical (bit for bit)."""
    assert len(a) == len(b)
    for ca, cb in zip(a, b):
        assert ca.target == cb.target and len(ca) == len(cb), (ca, cb)
        for sa, sb in zip(ca, cb):
            np.testing.assert_array_equal(sa.indices, sb.indices)
            np.testing.assert_array_equal(sa.order, sb.order)
            np.testing.assert_array_equal(sa.values, sb.values)
            assert sa.score == sb.score


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


CHECKS = [check_batch_size_invariance, check_executor_invariance, check_seed_reproducibility,
          check_batch_equals_single]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_invariant(name, check):
    check(EXPLAINERS[name], X_SMALL)


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


# --- clear errors on bad input, for every explainer ---------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPLAINERS))
def test_bad_input_errors(name):
    explainer = EXPLAINERS[name](total)
    with pytest.raises(ValueError, match="NaN"):
        explainer.explain(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="must hold numbers"):
        explainer.explain(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="at least 2 axis"):
        explainer.explain_batch(np.ones(3))
    with pytest.raises(TypeError, match="cannot use"):
        EXPLAINERS[name](model=object()).explain(np.ones(3))
