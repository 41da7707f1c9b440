import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blackbox_xai import SISExplainer
from blackbox_xai.analysis import compare_sis, cross_check, energy_distances, jaccard_distances
from scipy.spatial.distance import cdist


def brute_energy(a, b):
    a, b = np.unique(a, axis=0).astype(float), np.unique(b, axis=0).astype(float)
    v = 2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean()
    return np.sqrt(max(v, 0.0))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 7))
def test_energy_matches_brute_force(seed, n):
    rng = np.random.default_rng(seed)
    sets = [rng.integers(0, 6, size=(rng.integers(1, 9), 2)) for _ in range(n)]
    got = energy_distances(sets, block_bytes=8 * 5 * 7)  # tiny blocks exercise the blocking
    want = np.array([[brute_energy(a, b) for b in sets] for a in sets])
    np.testing.assert_allclose(got, want, atol=1e-9)
    np.testing.assert_array_equal(got, got.T)


def test_energy_singletons_and_scale():
    d = energy_distances([[[0, 0]], [[3, 4]]])
    assert d[0, 1] == pytest.approx(np.sqrt(10.0))
    d = energy_distances([[[0, 0]], [[3, 4]]], scale=5.0)
    assert d[0, 1] == pytest.approx(np.sqrt(2.0))


def test_energy_rejects_empty_and_mixed_dims():
    with pytest.raises(ValueError, match="set 1 is empty"):
        energy_distances([[[0, 0]], np.zeros((0, 2))])
    with pytest.raises(ValueError, match="different dimensions"):
        energy_distances([[[0, 0]], [[0, 0, 0]]])


def test_jaccard():
    d = jaccard_distances([{"a", "b"}, {"b", "c"}, {"a", "b"}, {"z"}])
    assert d[0, 1] == pytest.approx(1 - 1 / 3)
    assert d[0, 2] == 0 and d[0, 3] == 1


def _collections(model, centre, n, rng):
    """SIS of a 'model' that only looks at a 3x3 window around centre on 10x10 inputs."""
    r, c = centre

    def f(batch):
        return batch[:, r - 1:r + 2, c - 1:c + 2].sum(axis=(1, 2))

    X = rng.random((n, 10, 10)) * 0.1
    X[:, r - 1:r + 2, c - 1:c + 2] += 1.0
    return SISExplainer(f, 4.0, mode="fast").explain_batch(X), f


def test_compare_separates_models_and_cross_check():
    rng = np.random.default_rng(0)
    left, f_left = _collections("a", (2, 2), 20, rng)
    right, f_right = _collections("b", (7, 7), 20, rng)
    comp = compare_sis({"left": left, "right": right}, eps=1.0, min_samples=3)
    assert len(comp.rows) >= 2
    for row in comp.rows:
        if row["cluster"] != "Misc":
            assert row["share_left"] in (0.0, 100.0)  # no cluster mixes the two rationales
    assert sum(r["n_sis"] for r in comp.rows) == len(comp.labels)
    assert "| cluster | n_sis | % left | % right |" in comp.to_markdown()
    assert cross_check(left, f_left).share == 1.0
    assert cross_check(left, f_right).share == 0.0


def test_to_csv(tmp_path):
    rng = np.random.default_rng(1)
    left, _ = _collections("a", (2, 2), 6, rng)
    comp = compare_sis({"m": left}, eps=1.0, min_samples=2)
    comp.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().startswith("cluster,n_sis,count_m,share_m")
