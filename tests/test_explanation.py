import numpy as np
import pytest

from blackbox_xai import SISCollection, SISExplainer
from conftest import l2, total


def assert_roundtrip(col, path):
    saved = col.save(path)
    back = SISCollection.load(saved)
    assert len(back) == len(col)
    for attr in ("target", "threshold", "n_evaluations", "mode"):
        assert getattr(back, attr) == getattr(col, attr)
    np.testing.assert_array_equal(back.x, col.x)
    np.testing.assert_array_equal(back.masked_input, col.masked_input)
    for a, b in zip(col, back):
        for field in ("indices", "features", "mask", "order", "values"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
            assert getattr(a, field).dtype == getattr(b, field).dtype
        assert a.score == b.score and a.sufficient == b.sufficient
    return back


def test_roundtrip_per_element(tmp_path):
    col = SISExplainer(l2, 1.0).explain([.9, .9, 10, 5])
    back = assert_roundtrip(col, tmp_path / "c")
    assert back.group_ids is None and not list(tmp_path.glob("*.tmp-*"))


def test_roundtrip_group_map_and_empty(tmp_path):
    gmap = np.array([[3, 3], [4, 4]])
    col = SISExplainer(total, 3.0, groups=gmap).explain([[1.0, 2.0], [0.5, 0.5]])
    back = assert_roundtrip(col, tmp_path / "g.npz")
    np.testing.assert_array_equal(back.group_ids, [3, 4])
    empty = SISExplainer(total, 99.0).explain([1.0, 2.0])
    assert len(assert_roundtrip(empty, tmp_path / "e")) == 0


def test_load_rejects_other_files(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a saved SISCollection"):
        SISCollection.load(tmp_path / "other.npz")


def test_masked_inputs_and_union():
    col = SISExplainer(l2, 1.0).explain([.9, .9, 10, 5])
    inputs = col.masked_inputs()
    assert inputs.shape == (3, 4)
    np.testing.assert_array_equal(inputs[0], [0, 0, 10, 0])
    assert col.union_mask().all()
