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


def test_lime_names_classes_categories_and_bins_as_lime_does():
    rng = np.random.default_rng(0)
    X = np.c_[rng.integers(0, 2, 200), rng.random(200), rng.random(200)]

    def model(batch):
        return np.c_[batch[:, 0] + batch[:, 1], 1 - batch[:, 0] - batch[:, 1]]

    explainer = LimeExplainer(model, X, categorical_features=[0], categorical_names={0: ["male", "female"]},
                              class_names=["yes", "no"], discretize="quartile", feature_names=["sex", "age", "income"],
                              random_state=0, n_samples=500)
    x = np.array([1.0, 0.4, 0.95])
    result = explainer.explain(x)
    edges = np.quantile(X, [0.25, 0.5, 0.75], axis=0)
    k = int((edges[:, 1] <= 0.4).sum())
    labels = dict(result.as_list())
    assert "sex = female" in labels
    assert f"{edges[k - 1, 1]:.4g} <= age < {edges[k, 1]:.4g}" in labels
    assert f"{edges[2, 2]:.4g} <= income" in labels  # the top bin has no upper edge
    assert result.info["class_name"] == "yes" and result.target == 0
    every = LimeExplainer(model, X, class_names=["yes", "no"], target="all", random_state=0).explain(x)
    assert every.info["class_name"] == ["yes", "no"]
    with pytest.raises(ValueError, match="class_names has 3 names but the model has 2 outputs"):
        LimeExplainer(model, X, class_names=["a", "b", "c"]).explain(x)
    with pytest.raises(ValueError, match=r"categorical_names names columns \[2\] that are not in categorical_features"):
        LimeExplainer(model, X, categorical_features=[0], categorical_names={2: ["a"]}).explain(x)
    plain = LimeExplainer(model, X, feature_names=["sex", "age", "income"], random_state=0).explain(x)
    assert {name for name, _ in plain.as_list()} == {"sex", "age", "income"}


def load_wine_target():
    from sklearn.datasets import load_wine

    return load_wine().target


def test_sis_of_a_named_row_names_its_features_and_keeps_them_on_disk(wine, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from blackbox_xai import load_result, result_from_json

    _, frame = wine
    clf = LogisticRegression(max_iter=5000).fit(frame, load_wine_target())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")
        collection = SISExplainer(clf, 0.9, masked_value=frame.mean().to_numpy()).explain(frame.iloc[0])
    assert len(collection) and collection.feature_names == list(frame.columns)
    assert collection.names()[0] == [frame.columns[j] for j in collection[0].features]
    assert load_result(collection.save(tmp_path / "c")).names() == collection.names()
    assert result_from_json(collection.to_json()).names() == collection.names()
    unnamed = SISExplainer(lambda b: b.sum(axis=1), 1.0).explain(np.ones(3))
    with pytest.raises(ValueError, match="have no names"):
        unnamed.names()


def test_lime_on_a_regressor_needs_no_mode(wine):
    from sklearn.ensemble import RandomForestRegressor

    _, frame = wine
    reg = RandomForestRegressor(n_estimators=20, random_state=0).fit(frame.drop(columns="proline"), frame["proline"])
    rows = frame.drop(columns="proline")
    result = LimeExplainer(reg, rows, num_features=3, random_state=0, n_samples=500).explain(rows.iloc[0])
    assert result.target == 0 and result.output == pytest.approx(float(reg.predict(rows.iloc[[0]])[0]))
    assert len(result.as_list()) == 3 and all(name in rows.columns for name, _ in result.as_list())


def test_feature_names_are_for_the_columns_of_a_row():
    image = np.random.default_rng(0).random((1, 4, 4))
    with pytest.raises(ValueError, match=r"shape \(1, 4, 4\): names are for the columns of a row"):
        KernelShapExplainer(lambda b: b.reshape(len(b), -1).sum(axis=1), np.zeros((1, 4, 4)),
                            feature_names=["a", "b"], n_samples=20).explain(image)
