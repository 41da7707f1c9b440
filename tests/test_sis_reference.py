"""Every acceptance vector of ../shared/specs/sis.md (fully masked input = zeros)."""
import numpy as np
import pytest

from blackbox_xai import NoSISWarning, SISExplainer
from blackbox_xai.explainers.backselect import find_sis_from_backselect
from helpers import l2, linreg, total

S125, S126, S200 = np.sqrt(125), np.sqrt(126), np.sqrt(200)


def rows(coords):
    """Coordinates as the spec writes them, one row per feature: (k, 1) for 1-D inputs, whose
    ``indices`` and ``order`` are flat (k,)."""
    return np.reshape(coords, (len(coords), -1)).tolist()


def backselect_stack(model, x, groups=None):
    """The whole backward selection of x: the order/values of the first SIS when the threshold is
    just below f(x) (FindSIS then keeps everything up to the first removal)."""
    x = np.asarray(x, float)
    fx = float(model(x[None])[0])
    sis = SISExplainer(model, fx, groups=groups).explain(x)[0]
    return rows(sis.order), sis.values.tolist()


@pytest.mark.parametrize("model,x,groups,order,values", [
    (l2, [1, 10], None, [[0], [1]], [10, 0]),
    (l2, [10, 1], None, [[1], [0]], [10, 0]),
    (l2, [10, 10, 10], None, [[0], [1], [2]], [S200, 10, 0]),
    (l2, [.1, 10, 5, 1], None, [[0], [3], [2], [1]], [S126, S125, 10, 0]),
    (total, [[10, 5], [2, 3]], None, [[1, 0], [1, 1], [0, 1], [0, 0]], [18, 15, 10, 0]),
    (total, [[10, 5], [2, 3]], (1, 2), [[0, 1], [0, 0]], [12, 0]),
    (total, [[10, 5], [2, 3]], (2, 1), [[1, 0], [0, 0]], [15, 0]),
])
def test_backselect_stacks(model, x, groups, order, values):
    got_order, got_values = backselect_stack(model, x, groups)
    assert got_order == order
    np.testing.assert_allclose(got_values, values, rtol=0, atol=1e-12)


@pytest.mark.parametrize("threshold,expected", [
    (.6, []), (.5, []), (.65, [3]), (.7, [3]), (.8, [3, 1]), (.99, [3, 1, 2]), (2.0, [3, 1, 2, 0]),
])
def test_find_sis_from_stack(threshold, expected):
    order = np.array([[0], [2], [1], [3]])
    values = [1.0, .9, .7, .6]
    assert find_sis_from_backselect(order, values, threshold).ravel().tolist() == expected


def test_find_sis_l2_threshold_1():
    sis = SISExplainer(l2, 1.0).explain([.1, 10, 5])[0]
    assert rows(sis.indices) == [[1]]
    assert rows(sis.order) == [[0], [2], [1]]
    np.testing.assert_allclose(sis.values, [S125, 10, 0], atol=1e-12)
    assert sis.mask.tolist() == [False, True, False]


def test_find_sis_l2_threshold_10_5():
    sis = SISExplainer(l2, 10.5).explain([.1, 10, 5])[0]
    assert rows(sis.indices) == [[1], [2]]
    assert sis.mask.tolist() == [False, True, True]


def test_threshold_is_inclusive():
    sis = SISExplainer(l2, 5.0).explain([3, 4])[0]
    assert rows(sis.indices) == [[1], [0]]
    np.testing.assert_allclose(sis.values, [4, 0])
    with pytest.warns(NoSISWarning):
        assert len(SISExplainer(l2, 5.1).explain([3, 4])) == 0


def test_find_sis_with_initial_mask():
    sis = SISExplainer(l2, 1.0).explain([.1, 10, 5], initial_mask=np.array([True, False, True]))[0]
    assert rows(sis.indices) == [[2]]
    assert rows(sis.order) == [[0], [2]]
    np.testing.assert_allclose(sis.values, [5, 0])


def test_find_sis_sum_column_mask():
    sis = SISExplainer(total, 4.0, groups=(1, 2)).explain([[10, 5], [2, 13]])[0]
    assert rows(sis.indices) == [[0, 1]]
    assert rows(sis.order) == [[0, 0], [0, 1]]
    np.testing.assert_allclose(sis.values, [18, 0])


def _summary(collection):
    return [(rows(s.indices), rows(s.order), np.round(s.values, 10).tolist()) for s in collection]


def test_collection_l2():
    got = SISExplainer(l2, 1.0).explain([.9, .9, 10, 5])
    assert len(got) == 3
    assert [rows(s.indices) for s in got] == [[[2]], [[3]], [[1], [0]]]
    assert rows(got[0].order) == [[0], [1], [3], [2]]
    np.testing.assert_allclose(got[0].values, [np.sqrt(125.81), S125, 10, 0], atol=1e-12)
    assert rows(got[1].order) == [[0], [1], [3]]
    np.testing.assert_allclose(got[1].values, [np.sqrt(25.81), 5, 0], atol=1e-12)
    assert rows(got[2].order) == [[0], [1]]
    np.testing.assert_allclose(got[2].values, [0.9, 0], atol=1e-12)


def test_collection_sum_per_element():
    got = SISExplainer(total, 4.0).explain([[10, 5], [2, 3]])
    assert [rows(s.indices) for s in got] == [[[0, 0]], [[0, 1]], [[1, 1], [1, 0]]]
    np.testing.assert_allclose(got[1].values, [8, 5, 0])
    np.testing.assert_allclose(got[2].values, [3, 0])


def test_collection_sum_column_mask():
    got = SISExplainer(total, 10.0, groups=(1, 3)).explain([[10, 5, 9], [2, 3, 1]])
    assert _summary(got) == [
        ([[0, 0]], [[0, 1], [0, 2], [0, 0]], [22, 12, 0]),
        ([[0, 2]], [[0, 1], [0, 2]], [10, 0]),
    ]


def test_collection_linreg():
    got = SISExplainer(linreg, 5.0).explain([5, 1, 6, 3])
    assert _summary(got) == [
        ([[0]], [[2], [1], [3], [0]], [10, 8, 5, 0]),
        ([[3], [1]], [[2], [1], [3]], [5, 3, 0]),
    ]


def test_collection_sum_single_sis():
    got = SISExplainer(total, 1.0).explain([0.1, 0.5, 0.8, 0.1])
    assert len(got) == 1
    assert rows(got[0].indices) == [[2], [1]]
    assert rows(got[0].order) == [[0], [3], [1], [2]]
    np.testing.assert_allclose(got[0].values, [1.4, 1.3, 0.8, 0], atol=1e-12)


def test_below_threshold_gives_empty_collection():
    with pytest.warns(NoSISWarning):
        assert len(SISExplainer(l2, 100.0).explain([1, 2, 3])) == 0


def test_exact_evaluation_count_is_reference_cost():
    # r features cost r(r+1)/2 for the backward selection; plus f(x), f(masked) and, per SIS,
    # one verification and one evaluation of the reduced input.
    x = np.arange(1.0, 11.0)
    got = SISExplainer(total, 54.5).explain(x)  # f(x) = 55; one SIS, then f drops below
    assert len(got) == 1
    assert got.n_evaluations == 10 * 11 // 2 + 2 + 2
