"""Maskers: plan entries -> model inputs, checked against naive np.where, by property."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import BackgroundMasker, Masker, OffsetMasker, ValueMasker, WindowMasker


@settings(max_examples=60, deadline=None)
@given(
    shape=st.sampled_from([(4,), (2, 3), (3, 2, 2)]),
    data=st.data(),
)
def test_masker_matches_naive_where(shape, data):
    """Property: the vectorised masker equals np.where applied row by row."""
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    groups = data.draw(st.sampled_from(["none", "broadcast", "map"]))
    if groups == "none":
        g = None
    elif groups == "broadcast":
        g = (1,) + shape[1:] if len(shape) > 1 else shape
    else:
        g = rng.integers(0, 3, size=shape)
    space = FeatureSpace(shape, g)
    X = rng.random((3,) + shape)
    masked = rng.random(shape)
    n = 7
    rows = np.sort(rng.integers(0, 3, n))
    masks = rng.random((n, space.n_features)) < 0.5
    got = Masker(X, masked, space).build(rows, masks)
    for i in range(n):
        keep = space.to_mask(masks[i])
        np.testing.assert_array_equal(got[i], np.where(keep, X[rows[i]], masked))


def test_masker_reuses_a_given_buffer():
    space = FeatureSpace((3,))
    masker = Masker(np.ones((1, 3)), np.zeros(3), space)
    buf = np.full((5, 3), 9.0)
    out = masker.build(np.zeros(2, np.intp), np.array([[True, False, True], [False] * 3]), out=buf)
    assert np.shares_memory(out, buf)
    assert out.tolist() == [[1, 0, 1], [0, 0, 0]]


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_background_masker_is_where_over_every_background_row(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    g = rng.integers(0, 3, size=shape) if data.draw(st.booleans()) else None
    space = FeatureSpace(shape, g)
    X = (rng.normal(size=(3,) + shape) * 1e3).astype(dtype)
    X.flat[0] = -0.0  # signed zeros and tiny values must be copied bit for bit
    background = rng.normal(size=(4,) + shape).astype(dtype)
    n = 5
    rows = rng.integers(0, 3, n) if data.draw(st.booleans()) else np.full(n, 1)
    masks = rng.random((n, space.n_features)) < 0.5
    masker = BackgroundMasker(X, background, None, space)
    got = masker.build(rows, masks).reshape((n, 4) + shape)
    assert got.dtype == dtype
    for i in range(n):
        expected = np.where(space.to_mask(masks[i]), X[rows[i]], background)
        np.testing.assert_array_equal(got[i].view(f"u{got.itemsize}"), expected.view(f"u{got.itemsize}"))
    outputs = np.arange(n * 4, dtype=float)[:, None]
    np.testing.assert_allclose(masker.reduce(outputs)[:, 0], outputs.reshape(n, 4).mean(axis=1))



@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_relabelled_background_masker_gives_each_group_its_own_permuted_masks(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    rng = np.random.default_rng(data.draw(st.integers(0, 10_000)))
    g = rng.integers(0, 3, size=shape) if data.draw(st.booleans()) else None
    space = FeatureSpace(shape, g)
    nb, n_groups, n = 5, data.draw(st.integers(1, 5)), 4
    X, background = rng.normal(size=(3,) + shape), rng.normal(size=(nb,) + shape)
    relabel = np.array([rng.permutation(space.n_features) for _ in range(n_groups)])
    weights = rng.random(nb) * (rng.random(nb) < 0.7)  # some rows, maybe a whole group, weigh 0
    weights[0] += 0.1
    masker = BackgroundMasker(X, background, weights, space, relabel)
    rows = rng.integers(0, 3, n) if data.draw(st.booleans()) else np.full(n, 2)
    masks = rng.random((n, space.n_features)) < 0.5
    got = masker.build(rows, masks).reshape((n * nb,) + shape)
    bounds = np.linspace(0, nb, n_groups + 1).round().astype(int)
    expected, means = [], []
    outputs = rng.normal(size=(n * nb, 2))
    at = 0
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):  # group by group, entry by entry
        for i in range(n):
            for r in range(a, b):
                expected.append(np.where(space.to_mask(masks[i][relabel[k]]), X[rows[i]], background[r]))
        w = weights[a:b] if weights[a:b].sum() > 0 else np.ones(b - a)
        block = outputs[at: at + n * (b - a)].reshape(n, b - a, 2)
        means.append(np.einsum("nbk,b->nk", block, w / w.sum()))
        at += n * (b - a)
    np.testing.assert_array_equal(got, np.array(expected))
    assert masker.n_groups == n_groups
    np.testing.assert_allclose(masker.group_weights, np.add.reduceat(weights / weights.sum(), bounds[:-1]))
    np.testing.assert_allclose(masker.reduce(outputs), np.stack(means, axis=1).reshape(n, -1))
    with pytest.raises(ValueError, match="relabel must have shape"):
        BackgroundMasker(X, background, None, space, np.zeros((nb + 1, space.n_features), int))

def test_value_and_window_maskers():
    space = FeatureSpace((2, 3), np.array([[0, 0, 1], [1, 2, 2]]))
    values = np.array([[1.0, 2.0, 3.0]])
    got = ValueMasker(np.zeros((1, 2, 3)), space).build(np.zeros(1, np.intp), values)
    np.testing.assert_array_equal(got[0], [[1, 1, 2], [2, 3, 3]])
    X = np.arange(12.0).reshape(1, 3, 4)
    got = WindowMasker(X, np.full((3, 4), -1.0), (2, 2)).build(np.zeros(2, np.intp), np.array([[0, 0], [1, 2]]))
    assert (got[0] == -1).sum() == 4 and np.all(got[0][:2, :2] == -1)
    assert np.all(got[1][1:3, 2:4] == -1) and got[1][0, 0] == 0


@pytest.mark.parametrize("groups", [None, np.array([[0, 0, 1], [1, 2, 2]])])
def test_offset_masker_builds_x_plus_scaled_offsets_block_by_block(groups, monkeypatch):
    """Each input is ``z * scale + x`` computed in float64 (each feature's value at every position
    of its group), then cast: bit for bit, over several blocks and a short last one."""
    rng = np.random.default_rng(5)
    space = FeatureSpace((2, 3), groups)
    X = rng.normal(size=(2, 2, 3))
    scale, z = rng.uniform(0.5, 2.0, space.n_features), rng.normal(size=(7, space.n_features))
    rows = np.array([0, 1, 1, 0, 1, 0, 0])
    monkeypatch.setattr(OffsetMasker, "block_bytes", 2 * 6 * 8)  # two rows per block
    masker = OffsetMasker(X, scale, space)
    expected = (z * scale)[:, space.feature_of_position] + X[rows].reshape(7, -1)
    for dtype in (np.float64, np.float32):
        got = masker.astype(dtype).build(rows, z)
        assert got.dtype == dtype and got.shape == (7, 2, 3)
        np.testing.assert_array_equal(got.reshape(7, -1), expected.astype(dtype))
    assert masker.astype(np.float32).row_nbytes * 2 == masker.row_nbytes


def test_astype_builds_exactly_the_cast_of_the_float64_inputs():
    rng = np.random.default_rng(4)
    X, bg = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 3, 4))
    space = FeatureSpace((3, 4), np.arange(12).reshape(3, 4) // 3)
    rows, masks = np.array([0, 1, 1]), rng.random((3, 4)) < 0.5
    relabel = np.stack([rng.permutation(4) for _ in range(2)])
    cases = [
        (Masker(X, bg[0], space), masks),
        (BackgroundMasker(X, bg, None, space, relabel), masks),
        (ValueMasker(X.reshape(2, -1), FeatureSpace((12,))), rng.normal(size=(3, 12))),
        (WindowMasker(X, bg[0], (2, 2)), np.array([[0, 0], [1, 2], [0, 1]])),
    ]
    for masker, plan in cases:
        cast = masker.astype(np.float32)
        assert cast.dtype == np.float32 and masker.dtype == np.float64  # the original is untouched
        built = cast.build(rows, plan)
        assert built.dtype == np.float32
        np.testing.assert_array_equal(built, masker.build(rows, plan).astype(np.float32))
        assert cast.row_nbytes * 2 == masker.row_nbytes
    integers = Masker(np.arange(8).reshape(2, 4), np.zeros(4, int), FeatureSpace((4,)))
    assert integers.astype(np.float32) is integers  # token ids and the like are never cast
