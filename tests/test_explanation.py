import numpy as np
import pytest

from blackbox_xai import Attribution, SISCollection, SISExplainer
from helpers import l2, total


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


# --- Attribution --------------------------------------------------------------------------------
def _attributions():
    from blackbox_xai import KernelShapExplainer, LimeExplainer

    rng = np.random.default_rng(0)
    w = rng.normal(size=(2, 4, 4))
    model = lambda b: b.reshape(len(b), -1) @ w.ravel()  # noqa: E731
    x, background = rng.random((2, 4, 4)), rng.random((3, 2, 4, 4))
    blocks = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 2, axis=0), 2, axis=1)
    shap_groups = KernelShapExplainer(model, background, groups=blocks[None], n_samples=14).explain(x)
    shap_pixels = KernelShapExplainer(model, background, groups=(1, 4, 4), n_samples=40, random_state=0).explain(x)
    text = LimeExplainer(lambda d: np.array([len(s) for s in d], float), mode="text", n_samples=20,
                         random_state=0).explain("a cat and a dog")
    return shap_groups, shap_pixels, text


def test_attribution_round_trip(tmp_path):
    for i, a in enumerate(_attributions()):
        b = Attribution.load(a.save(tmp_path / f"a{i}"))
        np.testing.assert_array_equal(a.values, b.values)
        assert (a.base_value, a.output, a.target, a.n_evaluations, a.method, a.info) == \
            (b.base_value, b.output, b.target, b.n_evaluations, b.method, b.info)
        if isinstance(a.x, str):
            assert b.x == a.x and b.feature_names == a.feature_names
        else:
            np.testing.assert_array_equal(a.x, b.x)
            np.testing.assert_array_equal(a.to_input(), b.to_input())
        for name in ("std_errors", "group_ids", "feature_map"):
            assert (getattr(a, name) is None) == (getattr(b, name) is None)


def test_attribution_to_input_spreads_groups():
    groups, pixels, text = _attributions()
    spread = groups.to_input()
    assert spread.shape == groups.x.shape
    np.testing.assert_array_equal(spread[1, :2, :2], groups.values[0])
    assert pixels.to_input().shape == (2, 4, 4)
    np.testing.assert_array_equal(pixels.to_input()[0], pixels.to_input()[1])
    with pytest.raises(ValueError, match="text"):
        text.to_input()


def test_attribution_load_refuses_other_files(tmp_path):
    groups, _, _ = _attributions()
    path = SISCollection([], x=np.zeros(2), masked_input=np.zeros(2), target=0, threshold=0.5,
                         n_evaluations=1).save(tmp_path / "sis")
    with pytest.raises(ValueError, match="expected a saved Attribution"):
        Attribution.load(path)


def test_sis_collection_repr_shows_the_threshold_as_given():
    sis = SISCollection([], x=np.zeros(2), masked_input=np.zeros(2), target=0,
                        threshold=np.float64(0.999999999), n_evaluations=2)
    assert repr(sis) == "SISCollection(0 SIS, sizes=[], target=0, threshold=0.999999999, n_evaluations=2)"


def test_to_shap_explanation():
    shap = pytest.importorskip("shap")
    _, pixels, _ = _attributions()
    explanation = pixels.to_shap()
    assert isinstance(explanation, shap.Explanation)
    np.testing.assert_array_equal(explanation.values, pixels.values)
