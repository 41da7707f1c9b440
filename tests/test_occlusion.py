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
    result = OcclusionExplainer(lambda b: calls.append(len(b)) or reads_region(b), window, strides=strides).explain(x)
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
    result = OcclusionExplainer(reads_region, (1, 1, 1), masked_value=0.5).explain(x)
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


def test_all_targets_and_a_cut_last_window():
    x = RNG.random(7)
    two = lambda b: np.c_[b.sum(axis=1), -b.sum(axis=1)]  # noqa: E731
    result = OcclusionExplainer(two, 3, strides=3, target="all").explain(x)
    assert result.values.shape == (7, 2) and result.info["n_windows"] == 3  # at 0, 3 and 6 (cut)
    np.testing.assert_allclose(result.values[6], [x[6], -x[6]])
    np.testing.assert_allclose(result.values[:, 0], -result.values[:, 1])


# -- captum's window semantics, hand-computed ---------------------------------------------------
def linear3(batch):
    return batch @ np.array([1.0, 2.0, 3.0])


def test_stride_that_does_not_divide_cuts_the_last_window():
    """captum's test_simple_input_shape_with_stride: windows [0, 2) and [2, 3), the second cut at
    the edge; the drops are 20 + 2 * 50 = 120 and 3 * 30 = 90 (captum's own model gives
    [280, 280, 120]: the same windows)."""
    result = OcclusionExplainer(linear3, 2, strides=2).explain([20.0, 50.0, 30.0])
    np.testing.assert_allclose(result.values, [120.0, 120.0, 90.0])
    assert result.n_evaluations == 3


def test_overlapping_windows_with_a_cut_last_one():
    """d=6, w=3, s=2: windows [0,3), [2,5), [4,6); each position averages its windows' drops."""
    x = np.arange(1.0, 7.0)
    result = OcclusionExplainer(lambda b: b.sum(axis=1), 3, strides=2).explain(x)
    drops = [1 + 2 + 3, 3 + 4 + 5, 5 + 6]
    np.testing.assert_allclose(result.values, [drops[0], drops[0], (drops[0] + drops[1]) / 2, drops[1],
                                               (drops[1] + drops[2]) / 2, drops[2]])
    assert result.info["n_windows"] == 3


def _two_channel_case():
    """x (2, 3, 3) = arange(18), window (2, 2) over both channels, stride 2: four windows at
    (0, 0), (0, 2), (2, 0) and (2, 2), the last three cut at the edges."""
    return np.arange(18.0).reshape(2, 3, 3), lambda b: b.reshape(len(b), -1).sum(axis=1)


def _blocks(a, b, c, d):
    """A (2, 3, 3) map with value a on rows 0-1 x cols 0-1, b on rows 0-1 x col 2, c on row 2 x
    cols 0-1, d on (2, 2), in both channels."""
    plane = np.array([[a, a, b], [a, a, b], [c, c, d]], dtype=float)
    return np.stack([plane, plane])


def test_windows_over_several_axes_and_channels():
    x, model = _two_channel_case()
    result = OcclusionExplainer(model, (2, 2), strides=2).explain(x)
    # channel 0 holds 0..8, channel 1 holds 9..17
    np.testing.assert_allclose(result.values, _blocks(8 + 44, 7 + 25, 13 + 31, 8 + 17))
    assert result.info["n_windows"] == 4


def test_array_baseline_with_cut_windows():
    x, model = _two_channel_case()
    baseline = np.ones_like(x)
    result = OcclusionExplainer(model, (2, 2), strides=2, masked_value=baseline).explain(x)
    # each window's drop loses one per occluded position: 8, 4, 4 and 2 positions
    np.testing.assert_allclose(result.values, _blocks(52 - 8, 32 - 4, 44 - 4, 25 - 2))
    per_channel = OcclusionExplainer(model, (2, 2), strides=2, masked_value=np.array([1.0, 0.0])[:, None, None]).explain(x)
    np.testing.assert_allclose(per_channel.values, _blocks(52 - 4, 32 - 2, 44 - 2, 25 - 1))


def test_stride_larger_than_window_is_refused_as_captum_does():
    with pytest.raises(ValueError, match="strides .* step past window"):
        OcclusionExplainer(lambda b: b.sum(axis=1), 2, strides=3).explain(np.ones(8))
    # an axis the window spans whole has a single window whatever the stride
    result = OcclusionExplainer(lambda b: b.sum(axis=1), 4, strides=5).explain(np.ones(4))
    assert result.info["n_windows"] == 1


def test_errors():
    x = np.ones((3, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        OcclusionExplainer(reads_region, (5, 5)).explain(x)
    with pytest.raises(ValueError, match="window .* names 4 axes but x has shape"):
        OcclusionExplainer(reads_region, (1, 1, 1, 1)).explain(x)
    with pytest.raises(ValueError, match="window of OcclusionExplainer must be a positive int or a tuple"):
        OcclusionExplainer(reads_region, (0, 2)).explain(x)
    with pytest.raises(ValueError, match="as many axes"):
        OcclusionExplainer(reads_region, (2, 2), strides=(1, 1, 1)).explain(x)
