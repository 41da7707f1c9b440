"""Occlusion: exact evaluation counts, zero outside what the model reads, hand-checked values."""
import numpy as np
import pytest

from blackbox_xai import OcclusionExplainer
from blackbox_xai.explainers.occlusion import window_corners

RNG = np.random.default_rng(3)


def reads_region(batch):
    """Reads only rows 2..4, columns 3..5 of every channel."""
    return batch[:, :, 2:5, 3:6].reshape(len(batch), -1).sum(axis=1)


@pytest.mark.parametrize("window,strides", [((3, 3), (1, 1)), ((2, 4), (2, 3)), ((5, 5), None)])
def test_evaluations_are_windows_plus_one(window, strides):
    x = RNG.random((3, 10, 10))
    calls = []
    result = OcclusionExplainer(lambda b: calls.append(len(b)) or reads_region(b), window, strides).explain(x)
    n_windows = len(window_corners((3, 10, 10), (3,) + window, (3,) + (strides or (1, 1))))
    assert result.n_evaluations == sum(calls) == n_windows + 1 == result.info["n_windows"] + 1


def test_zero_where_no_window_touches_the_region():
    x = RNG.random((3, 10, 10))
    result = OcclusionExplainer(reads_region, (3, 3)).explain(x)
    touched = np.zeros((10, 10), bool)
    for r, c in window_corners((10, 10), (3, 3), (1, 1)):
        if r < 5 and r + 3 > 2 and c < 6 and c + 3 > 3:  # the window overlaps the region
            touched[r:r + 3, c:c + 3] = True
    assert np.all(result.values[:, ~touched] == 0.0)
    assert np.all(result.values[:, 2:5, 3:6] > 0)


def test_single_position_window_is_the_exact_drop():
    x = RNG.random((3, 10, 10))
    result = OcclusionExplainer(reads_region, (1, 1, 1), baseline=0.5).explain(x)
    expected = np.zeros_like(x)
    expected[:, 2:5, 3:6] = x[:, 2:5, 3:6] - 0.5
    np.testing.assert_allclose(result.values, expected, atol=1e-12)
    assert result.base_value == pytest.approx(reads_region(x[None])[0])


def test_average_over_covering_windows_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.array([1.0, 10.0, 100.0, 1000.0])
    result = OcclusionExplainer(lambda b: b @ weights, 2, strides=1).explain(x)
    drops = [1 + 20, 20 + 300, 300 + 4000]  # windows at 0, 1, 2
    np.testing.assert_allclose(result.values, [drops[0], (drops[0] + drops[1]) / 2,
                                               (drops[1] + drops[2]) / 2, drops[2]])


def test_uncovered_positions_and_all_targets():
    x = RNG.random(7)
    two = lambda b: np.c_[b.sum(axis=1), -b.sum(axis=1)]  # noqa: E731
    result = OcclusionExplainer(two, 3, strides=3, target="all").explain(x)
    assert result.values.shape == (7, 2)
    np.testing.assert_array_equal(result.values[6], 0.0)  # windows at 0 and 3 only
    np.testing.assert_allclose(result.values[:6, 0], -result.values[:6, 1])


def test_errors():
    x = np.ones((3, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        OcclusionExplainer(reads_region, (5, 5)).explain(x)
    with pytest.raises(ValueError, match="window must be"):
        OcclusionExplainer(reads_region, (1, 1, 1, 1)).explain(x)
    with pytest.raises(ValueError, match="window must be"):
        OcclusionExplainer(reads_region, (0, 2)).explain(x)
    with pytest.raises(ValueError, match="as many axes"):
        OcclusionExplainer(reads_region, (2, 2), strides=(1, 1, 1)).explain(x)
