"""LIME: recovers linear models, deterministic, tabular / image / text modes."""
import numpy as np
import pytest

from blackbox_xai import LimeExplainer
from blackbox_xai.explainers.lime import WeightedRidge, grid_segments, same_bin

RNG = np.random.default_rng(5)


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_weighted_ridge_matches_sklearn(alpha):
    from sklearn.linear_model import LinearRegression, Ridge

    Z, w = RNG.normal(size=(50, 4)), RNG.random(50)
    y = np.stack([RNG.normal(size=50), Z @ [1.0, -2.0, 0.5, 3.0] + 7.0], axis=1)  # noise; an exact fit
    ridge = WeightedRidge(Z, w, alpha)
    coef, intercept, score = ridge.fit(y)
    for k in range(2):
        ref = (Ridge(alpha=alpha) if alpha else LinearRegression()).fit(Z, y[:, k], sample_weight=w)
        np.testing.assert_allclose(coef[:, k], ref.coef_, atol=1e-10)
        assert intercept[k] == pytest.approx(ref.intercept_, abs=1e-10)
        assert score[k] == pytest.approx(ref.score(Z, y[:, k], sample_weight=w), abs=1e-10)
        alone = ridge.fit(y[:, [k]])  # the same design, one response at a time
        np.testing.assert_allclose(alone[0][:, 0], coef[:, k], rtol=1e-12, atol=1e-14)
    assert score[1] <= 1.0


def test_weighted_ridge_outputs_near_saturation():
    """Outputs such as probabilities of 1 - 1e-9: centring must not cancel their spread away."""
    Z, w = RNG.normal(size=(200, 3)), RNG.random(200)
    y = 1.0 - 1e-9 * (1.0 + 0.1 * (Z @ [1.0, 2.0, -1.0]))[:, None]
    coef, _, score = WeightedRidge(Z, w, 0.0).fit(y)
    np.testing.assert_allclose(coef[:, 0], -1e-10 * np.array([1.0, 2.0, -1.0]), rtol=1e-5)
    assert score[0] == pytest.approx(1.0, abs=1e-6)


def test_same_bin_matches_searchsorted_with_tied_edges():
    train = RNG.integers(0, 3, size=(40, 5)).astype(float)  # few distinct values: tied quantiles
    train[:, 4] = 1.0  # a constant column: every edge tied
    edges = np.quantile(train, [0.25, 0.5, 0.75], axis=0)
    values = RNG.integers(-1, 4, size=(200, 5)) + RNG.choice([0.0, 0.5], size=(200, 5))
    for x in (train[0], values[0], np.full(5, 1.0), np.full(5, -5.0)):
        bins = np.stack([np.searchsorted(edges[:, j], values[:, j], side="right") for j in range(5)], 1)
        x_bins = [np.searchsorted(edges[:, j], x[j], side="right") for j in range(5)]
        np.testing.assert_array_equal(same_bin(values, x, edges), bins == x_bins)


def test_image_on_off_recovers_each_superpixels_share():
    x, w = RNG.random((8, 8, 3)), RNG.normal(size=(8, 8, 3))
    model = lambda b: b.reshape(len(b), -1) @ w.ravel()  # noqa: E731
    result = LimeExplainer(model, mode="image", grid=(2, 2), masked_value=0.0, alpha=0.0, n_samples=100,
                           random_state=0).explain(x)
    segments = grid_segments(8, 8, (2, 2))
    np.testing.assert_allclose(result.values, [(w * x)[segments == k].sum() for k in range(4)], atol=1e-10)
    assert result.info["score"] == pytest.approx(1.0)
    assert result.to_input().shape == x.shape


def test_image_channel_first_equals_channel_last():
    x, w = RNG.random((8, 8, 3)), RNG.normal(size=(8, 8, 3))
    last = LimeExplainer(lambda b: b.reshape(len(b), -1) @ w.ravel(), mode="image", grid=(2, 2),
                         n_samples=64, random_state=1).explain(x)
    first = LimeExplainer(lambda b: np.moveaxis(b, 1, -1).reshape(len(b), -1) @ w.ravel(), mode="image",
                          grid=(2, 2), n_samples=64, random_state=1).explain(np.moveaxis(x, -1, 0))
    np.testing.assert_allclose(first.values, last.values, atol=1e-12)


def test_tabular_recovers_a_linear_model_without_discretisation():
    m = 6
    w, train = RNG.normal(size=m), RNG.normal(size=(400, m)) * np.arange(1, m + 1)
    result = LimeExplainer(lambda b: b @ w + 1.0, train, alpha=0.0, random_state=0).explain(train[0])
    # the interpretable features are standardised offsets: coefficient = w * training std
    np.testing.assert_allclose(result.values, w * train.std(axis=0), rtol=1e-9)
    assert result.info["score"] == pytest.approx(1.0)
    assert result.info["local_prediction"] == pytest.approx(train[0] @ w + 1.0)


def test_discretisation_is_optional_and_reported():
    m = 4
    w, train = RNG.normal(size=m), RNG.normal(size=(300, m))
    result = LimeExplainer(lambda b: b @ w, train, discretize="quartile", n_samples=500,
                           random_state=0).explain(train[1])
    assert result.info["discretize"] == "quartile" and result.values.shape == (m,)


def test_quartile_features_are_same_bin_indicators():
    """A model that is exactly the indicator "feature 1 in the same quartile as x" is fitted exactly."""
    train = RNG.normal(size=(300, 3))
    edges = np.quantile(train[:, 1], [0.25, 0.5, 0.75])
    x = train[7]
    bin_of = lambda v: np.searchsorted(edges, v, side="right")  # noqa: E731
    model = lambda b: (bin_of(b[:, 1]) == bin_of(x[1])).astype(float)  # noqa: E731
    result = LimeExplainer(model, train, discretize="quartile", alpha=0.0, n_samples=400,
                           random_state=0).explain(x)
    np.testing.assert_allclose(result.values, [0.0, 1.0, 0.0], atol=1e-10)
    assert result.info["score"] == pytest.approx(1.0)


def test_categorical_features():
    rng = np.random.default_rng(3)
    train = np.column_stack([rng.normal(size=600), rng.normal(size=600) * 2, rng.integers(0, 4, size=600)])
    g, w = np.array([0.0, 3.0, -1.0, 5.0]), np.array([1.0, -0.5])
    seen = []

    def model(batch):
        seen.append(batch[:, 2].copy())
        return batch[:, :2] @ w + g[batch[:, 2].astype(int)]

    x = np.array([0.3, -1.0, 1.0])
    explainer = LimeExplainer(model, train, categorical_features=[2], alpha=0.0, random_state=0)
    result = explainer.explain(x)
    assert set(np.concatenate(seen)) <= {0.0, 1.0, 2.0, 3.0}  # only categories seen in training
    freq = np.bincount(train[:, 2].astype(int), minlength=4) / len(train)
    others = [c for c in range(4) if c != 1]
    effect = g[1] - (freq[others] @ g[others]) / freq[others].sum()
    assert result.values[2] == pytest.approx(effect, abs=0.15)  # x's category against the others
    np.testing.assert_allclose(result.values[:2], w * train[:, :2].std(axis=0), rtol=0.05)
    assert result.info["categorical_features"] == [2]
    batch = LimeExplainer(model, train, categorical_features=[2], alpha=0.0, random_state=0).explain_batch(x[None])
    np.testing.assert_array_equal(batch[0].values, result.values)
    quartiles = LimeExplainer(model, train, categorical_features=[2], discretize="quartile",
                              random_state=0).explain(x)
    assert quartiles.values[2] > 0
    with pytest.raises(ValueError, match="categorical_features must list distinct column numbers"):
        LimeExplainer(model, train, categorical_features=[3]).explain(x)


def test_text_words_on_off():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs = ["good great fine", "bad awful poor", "great good", "awful bad"] * 5
    clf = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 5)
    doc = "this movie is great, not bad at all!"
    result = LimeExplainer(clf, mode="text", n_samples=500, random_state=0).explain(doc, target=1)
    named = dict(zip(result.feature_names, result.values))
    assert named["great"] > 0.05 and named["bad"] < -0.05
    assert abs(named["movie"]) < 0.05 * named["great"]  # not in the vocabulary: no effect of its own
    assert [doc[a:b] for a, b in result.info["spans"]][:2] == ["this", "movie"]
    assert result.feature_names == ["this", "movie", "is", "great", "not", "bad", "at", "all"]  # as they appear
    batch = LimeExplainer(clf, mode="text", n_samples=500, random_state=0).explain_batch([doc, "bad"], target=1)
    np.testing.assert_array_equal(batch[0].values, result.values)


def test_deterministic_and_fresh_per_input():
    w, train = RNG.normal(size=5), RNG.normal(size=(100, 5))
    model = lambda b: np.tanh(b @ w)  # noqa: E731
    a = LimeExplainer(model, train, n_samples=300, random_state=3).explain_batch(train[:3])
    b = LimeExplainer(model, train, n_samples=300, random_state=3).explain_batch(train[:3])
    for ra, rb, x in zip(a, b, train[:3]):
        np.testing.assert_array_equal(ra.values, rb.values)
        single = LimeExplainer(model, train, n_samples=300, random_state=3).explain(x)
        np.testing.assert_array_equal(single.values, ra.values)
    other = LimeExplainer(model, train, n_samples=300, random_state=4).explain(train[0])
    assert not np.array_equal(other.values, a[0].values)


def test_errors():
    model = lambda b: b.sum(axis=1)  # noqa: E731
    with pytest.raises(ValueError, match="needs training_data"):
        LimeExplainer(model).explain(np.ones(3))
    with pytest.raises(ValueError, match="training_data has shape"):
        LimeExplainer(model, np.ones((5, 2))).explain(np.ones(3))
    with pytest.raises(ValueError, match="mode"):
        LimeExplainer(model, mode="audio").explain(np.ones(3))
    with pytest.raises(ValueError, match="explains strings"):
        LimeExplainer(model, mode="text").explain(3.0)
    with pytest.raises(ValueError, match="channel axis"):
        LimeExplainer(model, mode="image").explain(np.ones((5, 6, 7)))
    with pytest.raises(ValueError, match="segmentation must be"):
        LimeExplainer(model, mode="image", segmentation=np.zeros((2, 2), int)).explain(np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"n_samples of LimeExplainer must be an int in \[2, inf\)"):
        LimeExplainer(model, np.ones((5, 3)), n_samples=1).explain(np.ones(3))
    with pytest.raises(ValueError, match="alpha"):
        LimeExplainer(model, np.ones((5, 3)), alpha=-1.0).explain(np.ones(3))
