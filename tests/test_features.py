"""Feature spaces (per element, broadcast axes, group maps) and the masked input."""
import numpy as np
import pytest

from blackbox_xai.features import BackgroundMean, FeatureSpace, resolve_masked_input


def test_per_element_space():
    space = FeatureSpace((2, 3))
    assert space.n_features == 6 and space.mask_shape == (2, 3)
    assert space.coords([4, 0]).tolist() == [[1, 1], [0, 0]]


def test_broadcast_space_groups_channels():
    space = FeatureSpace((3, 2, 2), (1, 2, 2))
    assert space.n_features == 4
    # every channel of pixel (0, 1, 0) maps to feature 2
    fop = space.feature_of_position.reshape(3, 2, 2)
    assert (fop[:, 1, 0] == 2).all()


def test_group_map_space():
    space = FeatureSpace((2, 3), np.array([[5, 5, 1], [1, 9, 9]]))
    assert space.n_features == 3 and space.group_ids.tolist() == [1, 5, 9]
    assert space.to_mask([False, True, False]).tolist() == [[True, True, False], [False, False, False]]
    assert space.coords([2, 0]).tolist() == [9, 1]
    assert FeatureSpace((4,)).coords([3, 1]).tolist() == [3, 1]  # 1-D: flat
    assert FeatureSpace((2, 2)).coords([3]).tolist() == [[1, 1]]


def test_group_map_must_be_integer():
    with pytest.raises(ValueError, match="integer group map"):
        FeatureSpace((2,), np.array([0.5, 1.5]))


def test_resolve_masked_input():
    assert resolve_masked_input(None, (2,)).tolist() == [0, 0]
    assert resolve_masked_input(3, (2,)).tolist() == [3, 3]
    assert resolve_masked_input(np.array([1.0, 2.0]), (2, 2)).tolist() == [[1, 2], [1, 2]]
    bg = np.array([[0.0, 2.0], [2.0, 4.0]])
    assert resolve_masked_input(BackgroundMean(bg), (2,)).tolist() == [1, 3]
    with pytest.raises(ValueError, match=r"background has shape \(2, 2\) but x has shape \(3,\)"):
        resolve_masked_input(BackgroundMean(bg), (3,))
    with pytest.raises(ValueError, match="NaN"):
        resolve_masked_input(np.array([np.nan, 1.0]), (2,))
