"""Meeting users where they are: pandas in, names out; a batch as one table or one
shap.Explanation; lime's options; the tabular plots."""
import warnings

import numpy as np
import pytest

from blackbox_xai import Explanations, KernelShapExplainer, LimeExplainer, OcclusionExplainer, SISExplainer

pd = pytest.importorskip("pandas", reason="the feature-name tests need pandas")


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier

    data = load_wine(as_frame=True)
    frame = data.frame.drop(columns="target")
    clf = RandomForestClassifier(n_estimators=30, random_state=0).fit(frame, data.target)
    return clf, frame


def test_a_dataframe_in_names_out_same_numbers_no_sklearn_warning(wine):
    clf, frame = wine
    rows = frame.iloc[[3, 70, 150]]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")  # sklearn's "X does not have valid feature names"
        named = KernelShapExplainer(clf, frame.iloc[:20], n_samples=256, random_state=0).explain_batch(rows)
        single = LimeExplainer(clf, frame, n_samples=500, random_state=0).explain(frame.iloc[3])
    plain = KernelShapExplainer(clf, frame.iloc[:20].to_numpy(), n_samples=256, random_state=0).explain_batch(
        rows.to_numpy())
    assert isinstance(named, Explanations) and named.index == [3, 70, 150]
    assert named[0].feature_names == list(frame.columns) == named.feature_names
    for a, b in zip(named, plain):
        np.testing.assert_array_equal(a.values, b.values)
    assert plain[0].feature_names == list(frame.columns)  # from the fitted model's feature_names_in_
    assert single.feature_names == list(frame.columns)


def test_feature_names_for_arrays_and_a_clear_error_when_they_do_not_fit():
    X = np.random.default_rng(0).random((20, 3))
    model = lambda b: b @ np.array([1.0, 2.0, 3.0])  # noqa: E731
    result = KernelShapExplainer(model, X, feature_names=["a", "b", "c"], random_state=0).explain(X[0])
    assert result.feature_names == ["a", "b", "c"]
    listed = result.as_list()
    assert sorted(name for name, _ in listed) == ["a", "b", "c"]
    assert [v for _, v in listed] == sorted(result.values.tolist(), key=abs, reverse=True)
    with pytest.raises(ValueError, match="feature_names has 2 names but the input has 3 features"):
        KernelShapExplainer(model, X, feature_names=["a", "b"]).explain(X[0])
    assert OcclusionExplainer(model, 1).explain(X[0]).feature_names is None  # nothing names them


def test_to_frame_one_row_per_input_and_a_long_form_for_every_output(wine):
    clf, frame = wine
    rows = frame.iloc[[5, 60]]
    results = KernelShapExplainer(clf, frame.iloc[:10], n_samples=128, random_state=0).explain_batch(rows)
    table = results.to_frame()
    assert list(table.index) == [5, 60] and list(table.columns) == list(frame.columns)
    np.testing.assert_array_equal(table.to_numpy(), results.values)
    every = KernelShapExplainer(clf, frame.iloc[:10], n_samples=128, target="all", random_state=0).explain_batch(rows)
    long = every.to_frame()
    assert long.index.names == ["input", "output"] and len(long) == 2 * 3
    np.testing.assert_array_equal(long.loc[(60, 2)].to_numpy(), every[1].values[:, 2])
    with pytest.raises(TypeError, match="needs attributions"):
        Explanations(SISExplainer(lambda b: b.sum(axis=1), 1.0).explain_batch(np.ones((2, 3)))).to_frame()


def test_a_batch_is_one_shap_explanation_for_shaps_plots(wine):
    shap = pytest.importorskip("shap", reason="shap is not installed")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clf, frame = wine
    results = KernelShapExplainer(clf, frame.iloc[:10], n_samples=128, random_state=0).explain_batch(frame.iloc[:12])
    explanation = results.to_shap()
    assert explanation.values.shape == (12, 13) and explanation.base_values.shape == (12,)
    assert list(explanation.feature_names) == list(frame.columns)
    np.testing.assert_array_equal(explanation.data, frame.iloc[:12].to_numpy())
    shap.plots.bar(explanation, show=False)
    plt.close("all")
    shap.plots.beeswarm(explanation, show=False)
    labels = [t.get_text() for t in plt.gca().get_yticklabels()]
    assert any(name in " ".join(labels) for name in frame.columns)
    plt.close("all")
    every = KernelShapExplainer(clf, frame.iloc[:10], n_samples=128, target="all",
                                random_state=0).explain_batch(frame.iloc[:4]).to_shap()
    assert every.values.shape == (4, 13, 3) and every.base_values.shape == (4, 3)


def test_lime_num_features_keeps_the_largest_weights_refitted(wine):
    clf, frame = wine
    x = frame.iloc[3]
    full = LimeExplainer(clf, frame, n_samples=800, random_state=0).explain(x)
    top = LimeExplainer(clf, frame, n_samples=800, random_state=0, num_features=4).explain(x)
    kept = sorted(np.argsort(-np.abs(full.values), kind="stable")[:4].tolist())
    assert top.info["features_used"] == kept and np.count_nonzero(top.values) <= 4
    listed = top.as_list()
    assert len(listed) == 4 and {name for name, _ in listed} == {frame.columns[j] for j in kept}
    assert [abs(v) for _, v in listed] == sorted((abs(v) for _, v in listed), reverse=True)
    assert top.info["score"] <= full.info["score"] + 1e-12  # fewer features fit no better
    with pytest.raises(ValueError, match="num_features of LimeExplainer must be"):
        LimeExplainer(clf, frame, num_features=0).explain(x)


def test_tabular_plots_render_with_names_on_the_axes(wine, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from blackbox_xai.plot import attribution_bar, attribution_summary

    clf, frame = wine
    results = KernelShapExplainer(clf, frame.iloc[:10], n_samples=128, random_state=0).explain_batch(frame.iloc[:15])
    ax = attribution_bar(results[0], max_display=5)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == 6 and labels[-1] == "8 other features"
    top = results[0].as_list()[0][0]
    assert labels[0] == f"{top} = {frame.iloc[0][top]:.4g}"
    ax.figure.savefig(tmp_path / "bar.png")
    ax = attribution_summary(results, max_display=6)
    names = [t.get_text() for t in ax.get_yticklabels()]
    order = np.argsort(-np.abs(results.values).mean(axis=0), kind="stable")[:6]
    assert names == [frame.columns[j] for j in order[::-1]]
    ax.figure.savefig(tmp_path / "summary.png")
    assert (tmp_path / "bar.png").stat().st_size > 0 and (tmp_path / "summary.png").stat().st_size > 0
    plt.close("all")


def test_lime_text_words_by_pattern_or_tokenizer():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs = ["good fine film", "bad awful film", "good good plot", "awful bad plot"] * 3
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 3)
    doc = "good, awful plot; good"

    def words(**kw):
        return LimeExplainer(pipe, mode="text", n_samples=100, random_state=0, **kw).explain(doc).feature_names

    assert words() == ["good", "awful", "plot"]
    assert words(token_pattern=r"[^ ]+") == ["good,", "awful", "plot;", "good"]
    assert words(tokenizer=str.split) == ["good,", "awful", "plot;", "good"]
    spans = LimeExplainer(pipe, mode="text", n_samples=100, random_state=0, tokenizer=str.split).explain(doc).token_spans()
    assert [doc[a:b] for a, b, _ in spans] == ["good,", "awful", "plot;", "good"]
    with pytest.raises(ValueError, match="the tokenizer returned 'nope', which does not occur"):
        LimeExplainer(pipe, mode="text", tokenizer=lambda d: ["nope"]).explain(doc)
    with pytest.raises(ValueError, match="is not a regular expression"):
        LimeExplainer(pipe, mode="text", token_pattern="(").explain(doc)
