"""The LRP path: the spec's test vectors T1-T9 (specs/lrp.md) and conservation on real fitted
scikit-learn models, always checked against sklearn's own decision_function."""
import numpy as np
import pytest
from sklearn.svm import SVC, LinearSVC, OneClassSVM

from blackbox_xai.lrp import (LRP, AdditiveKernel, BagOfWordsEncoder, DensePatches, FisherVectorEncoder,
                              PolynomialKernel, RBFKernel, additive_chi2, histogram_intersection,
                              pooling_relevance, softmin_relevance, spread_to_pixels)
from blackbox_xai.lrp.svm import KernelMachine, explain_machine

A5 = dict(atol=5e-6)  # the spec's vectors are given to 5 decimals


def machine(S, a, b, rule):
    return KernelMachine(np.asarray(S, float), np.asarray(a, float), b, rule)


# -- T1-T4, T6: the rules on hand-built machines ------------------------------------------------
def test_t1_linear():
    from blackbox_xai.lrp import LinearKernel

    m = machine([[1, 2], [2, 0]], [0.5, -0.25], 0.1, LinearKernel())
    R, R_sv, out, share, _ = explain_machine(m, [[3, 1]])
    assert out[0] == pytest.approx(1.1)
    np.testing.assert_allclose(R_sv[0], [2.5, -1.5])
    np.testing.assert_allclose(R[0], [0, 1], atol=1e-15)
    assert R.sum() == pytest.approx(out[0] - 0.1) and share[0] == pytest.approx(0.1)


@pytest.mark.parametrize("kind, f, R", [
    ("intersection", 0.5, [0.35, 0.25, 0.10]),
    ("chi2", 0.46730, [0.36444, 0.26286, 0.04]),
])
def test_t2_additive(kind, f, R):
    m = machine([[.5, .3, .2], [.1, .1, .8]], [1, -.5], -.2, AdditiveKernel(kind))
    got, _, out, share, _ = explain_machine(m, [[.4, .4, .2]])
    assert out[0] == pytest.approx(f, abs=5e-6)
    np.testing.assert_allclose(got[0], R, **A5)
    assert got.sum() == pytest.approx(out[0] + 0.2, abs=1e-12)  # f - b, exactly
    if kind == "intersection":
        uniform, _, out, share, _ = explain_machine(m, [[.4, .4, .2]], bias="uniform")
        np.testing.assert_allclose(uniform[0], [0.28333, 0.18333, 0.03333], **A5)
        assert uniform.sum() == pytest.approx(out[0], abs=1e-12) and share[0] == 0


def test_t3_polynomial():
    R0, _, out, _, _ = explain_machine(machine([[1, 1]], [1], 0.0, PolynomialKernel(1, 0, 2)), [[2, 3]])
    np.testing.assert_allclose(R0[0], [10, 15])
    R1, _, out, _, _ = explain_machine(machine([[1, 1]], [1], 0.0, PolynomialKernel(1, 1, 2)), [[2, 3]])
    np.testing.assert_allclose(R1[0], [12, 18])
    assert out[0] - R1.sum() == pytest.approx(6)  # coef0's share, absorbed


@pytest.mark.parametrize("x, o, R", [
    ((1, 1), 2.0, (1, 1)),
    ((1, 0), 1.0, (1, 0)),
    ((0.3, -0.7), 1.21411, (0.23711, 0.97701)),
])
def test_t4_one_class_softmin(x, o, R):
    got_o, got_R, R_units = softmin_relevance([[0, 0], [2, 0]], [.5, .5], 1.0, np.array(x, float))
    assert got_o == pytest.approx(o, abs=5e-6)
    np.testing.assert_allclose(got_R, R, **A5)
    assert got_R.sum() == pytest.approx(got_o, abs=1e-12) and R_units.sum() == pytest.approx(got_o)


def test_t6_rbf_taylor_path_neuralized():
    S, a, x, root = np.array([[1.0, 0], [-1.0, 0]]), np.array([1.0, -1.0]), np.array([[1.0, 1.0]]), [0, 1]
    taylor = explain_machine(machine(S, a, 0.0, RBFKernel(1, "taylor")), x, root=root)
    assert taylor[2][0] == pytest.approx(0.36114, abs=5e-6)
    np.testing.assert_allclose(taylor[0][0], [0.54134, 0], **A5)
    assert taylor[2][0] - taylor[3][0] - taylor[0].sum() == pytest.approx(-0.18, abs=5e-3)
    path = explain_machine(machine(S, a, 0.0, RBFKernel(1, "path")), x, root=root)
    np.testing.assert_allclose(path[0][0], [0.36114, 0], **A5)
    assert path[0].sum() == pytest.approx(path[2][0], abs=1e-12)  # exact: f(x) - f(root), f(root) = 0
    neural = explain_machine(machine(S, a, 0.0, RBFKernel(1, "neuralized")), x)
    assert neural[2][0] == pytest.approx(4) and neural[3][0] == pytest.approx(0)
    np.testing.assert_allclose(neural[0][0], [4, 0], atol=1e-12)


def test_rbf_root_by_bisection_lies_on_the_decision_boundary():
    S, a = np.array([[1.0, 0], [-1.0, 0]]), np.array([1.0, -1.0])
    rule = RBFKernel(1, "path")
    x = np.array([0.7, 0.4])
    root = rule.find_root(S, a, x, 0.0, S)
    assert abs(rule.value(S, a, root[None])[0]) < 1e-12
    far = S[1]  # the nearest point of opposite sign
    t = (root - x) / (far - x)
    assert t[0] == pytest.approx(t[1])  # on the segment from x to it
    with pytest.raises(ValueError, match="no root point"):
        rule.find_root(S, a, x, 0.0, S[:1])


# -- T7, T8: pooling rules and the Fisher vector ------------------------------------------------
def test_t7_bag_of_words_hard_and_soft():
    counts = np.array([2.0, 0, 1])
    x = counts / counts.sum()
    w, b = np.array([1.0, 5, -3]), 0.5
    assert w @ x + b == pytest.approx(0.16667, abs=5e-6)
    R_d = w * x
    M = np.array([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]])  # local features: word 0, word 0, word 2
    R_l = pooling_relevance(M, R_d)
    np.testing.assert_allclose(R_l, [1 / 3, 1 / 3, -1])
    R_p = spread_to_pixels(R_l, [(0, 0, 1, 2), (0, 1, 1, 3), (0, 3, 1, 4)], (1, 4))[0]
    np.testing.assert_allclose(R_p, [1 / 6, 1 / 3, 1 / 6, -1])
    assert R_p.sum() == pytest.approx(w @ x)  # f - b
    M = np.array([[.8, .2], [.5, .5]])
    x = M.sum(axis=0) / M.sum()
    w = np.array([1.0, -1])
    assert w @ x == pytest.approx(0.3)
    np.testing.assert_allclose(w * x, [0.65, -0.35])
    np.testing.assert_allclose(pooling_relevance(M, w * x), [0.3, 0], atol=1e-15)


def _t8_encoder(power, norm):
    return FisherVectorEncoder(power=power, norm=norm).set_gmm([1.0], [[0.0]], [[1.0]])


def test_t8_fisher_vector():
    D = np.array([[1.0], [-0.5], [2.0]])
    w = np.array([1.0, -2.0])
    enc = _t8_encoder(1.0, None)
    M = enc.local_codes(D)
    np.testing.assert_allclose(M.sum(axis=0), [0.83333, 0.53033], **A5)
    x = enc.transform([D])[0]
    assert w @ x == pytest.approx(-0.22733, abs=5e-6)
    np.testing.assert_allclose(pooling_relevance(M, w * x), [0.33333, 0.18689, -0.74755], **A5)
    np.testing.assert_allclose(M @ w, pooling_relevance(M, w * x), atol=1e-15)  # w . phi(l)
    np.testing.assert_allclose(pooling_relevance(M, w * x, eps=0.1), [0.29762, 0.14865, -0.59461], **A5)
    enc = _t8_encoder(0.5, "l2")
    x = enc.transform([D])[0]
    np.testing.assert_allclose(x, [0.78173, 0.62362], **A5)
    assert w @ x == pytest.approx(-0.46551, abs=5e-6)
    np.testing.assert_allclose(pooling_relevance(enc.local_codes(D), w * x), [0.31269, 0.25940, -1.03760], **A5)


# -- T9 and text pipelines ----------------------------------------------------------------------
def test_t9_tfidf_tokens():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    vec = TfidfVectorizer(vocabulary=["space", "orbit", "the"])
    vec.fit(["space orbit the"])
    vec.idf_ = np.array([2.0, 3.0, 1.0])
    clf = LogisticRegression().fit(np.eye(3), [0, 1, 1])
    clf.coef_, clf.intercept_ = np.array([[1.5, 2.0, -0.1]]), np.array([-0.3])
    doc = "Space, the orbit: SPACE"
    result = LRP(Pipeline([("v", vec), ("m", clf)])).explain_batch([doc], target=1)
    np.testing.assert_allclose(vec.transform([doc]).toarray()[0], [0.78446, 0.58835, 0.19612], **A5)
    assert result.output[0] == pytest.approx(2.03378, abs=5e-6)
    np.testing.assert_allclose(result.relevance[0], [1.17670, 1.17670, -0.01961], **A5)
    tokens = result.info["tokens"][0]
    assert [t["token"] for t in tokens] == ["Space", "the", "orbit", "SPACE"]
    assert [doc[t["start"]:t["end"]] for t in tokens] == ["Space", "the", "orbit", "SPACE"]
    np.testing.assert_allclose([t["relevance"] for t in tokens], [0.58835, -0.01961, 1.17670, 0.58835], **A5)
    assert sum(t["relevance"] for t in tokens) == pytest.approx(result.output[0] + 0.3, abs=1e-12)
    from blackbox_xai.plot import text_heatmap_html

    page = text_heatmap_html(result)
    assert page.count("<span") == 4 and 'title="+1.177">orbit</span>' in page
    assert "rgba(40, 90, 220, 0.02)" in page  # "the": slightly negative, blue


@pytest.fixture(scope="module")
def topics():
    words = {"space": "orbit rocket launch planet moon satellite astronaut mars probe telescope",
             "sport": "match goal team score league coach player season cup referee",
             "food": "recipe oven flour butter sauce garlic bake dough spice taste"}
    rng = np.random.default_rng(0)
    common = "the a of and in to with for on at".split()
    docs, labels = [], []
    for label, vocab in words.items():
        vocab = vocab.split()
        for _ in range(40):
            docs.append(" ".join(rng.choice(vocab + common, size=12)))
            labels.append(label)
    return docs, np.array(labels)


@pytest.mark.parametrize("vectorizer", ["count", "tfidf"])
@pytest.mark.parametrize("model", ["logreg", "linearsvc", "svc-linear", "svc-intersection"])
def test_text_tokens_sum_to_decision_minus_intercept(topics, vectorizer, model):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    docs, y = topics
    vec = (TfidfVectorizer if vectorizer == "tfidf" else CountVectorizer)(ngram_range=(1, 2), stop_words=["of"])
    est = {"logreg": LogisticRegression(max_iter=1000), "linearsvc": LinearSVC(),
           "svc-linear": OneVsRestClassifier(SVC(kernel="linear")),
           "svc-intersection": OneVsRestClassifier(SVC(kernel=histogram_intersection))}[model]
    pipe = make_pipeline(vec, est).fit(docs, y)
    test = ["the rocket reached orbit of mars", "a goal in the cup match", "garlic butter sauce recipe, bake it"]
    result = LRP(pipe).explain_batch(test, target="space")
    decision = pipe.decision_function(test)[:, list(pipe.classes_).index("space")]
    np.testing.assert_allclose(result.output, decision, rtol=1e-10, atol=1e-10)
    intercept = decision - result.relevance.sum(axis=1)
    np.testing.assert_allclose(result.bias_share, intercept, atol=1e-10)
    for doc, tokens, absent in zip(test, result.info["tokens"], result.info["absent"]):
        assert absent == pytest.approx(0, abs=1e-12)
        assert sum(t["relevance"] for t in tokens) == pytest.approx(
            result.output[test.index(doc)] - result.bias_share[test.index(doc)], abs=1e-10)
        assert all(doc[t["start"]:t["end"]].lower() == t["token"].lower() for t in tokens)
    assert "of" not in [t["token"] for t in result.info["tokens"][0]]
    assert result.info["tokens"][0][1]["token"] == "rocket" and result.info["tokens"][0][1]["relevance"] > 0


# -- real fitted models: conservation against sklearn's decision_function ----------------------
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.random((120, 6))
    y = (X[:, 0] + X[:, 1] ** 2 - X[:, 2] > 0.5).astype(int)
    return X, y


@pytest.mark.parametrize("svc", [
    SVC(kernel="linear"),
    SVC(kernel="poly", degree=2, coef0=0.0, gamma=0.7),
    SVC(kernel="poly", degree=3, coef0=0.0, gamma="scale"),
    SVC(kernel=histogram_intersection),
    SVC(kernel=additive_chi2),
], ids=["linear", "poly2", "poly3", "hik", "chi2"])
@pytest.mark.parametrize("bias", ["absorb", "ignore", "uniform"])
def test_exact_kernels_conserve(data, svc, bias):
    X, y = data
    svc.fit(X, y)
    result = LRP(svc, bias=bias).explain_batch(X[:15], target=1)
    decision = svc.decision_function(X[:15])
    np.testing.assert_allclose(result.output, decision, rtol=1e-10, atol=1e-10)
    assert np.abs(result.residual).max() < 1e-10
    total = result.relevance.sum(axis=1)
    expected = decision if bias == "uniform" else decision - svc.intercept_[0]
    np.testing.assert_allclose(total, expected, atol=1e-10)


def test_linear_svc_relevance_is_coef_times_x(data):
    X, y = data
    for model in (SVC(kernel="linear").fit(X, y), LinearSVC().fit(X, y)):
        result = LRP(model).explain_batch(X[:10], target=1)
        np.testing.assert_allclose(result.relevance, model.coef_[0] * X[:10], atol=1e-12)
        neg = LRP(model).explain_batch(X[:10], target=0)
        np.testing.assert_allclose(neg.relevance, -result.relevance)


def test_precomputed_kernel_with_training_data(data):
    X, y = data
    svc = SVC(kernel="precomputed").fit(histogram_intersection(X, X), y)
    result = LRP(svc, X_train=X, kernel_rule="intersection").explain_batch(X[:5], target=1)
    np.testing.assert_allclose(result.output, svc.decision_function(histogram_intersection(X[:5], X)), atol=1e-10)
    assert np.abs(result.residual).max() < 1e-10
    with pytest.raises(ValueError, match="X_train"):
        LRP(svc, kernel_rule="intersection").explain_batch(X[:5], target=1)


def test_multiclass_svc_pairs_and_one_vs_rest():
    from sklearn.datasets import load_wine
    from sklearn.multiclass import OneVsRestClassifier

    X, y = load_wine(return_X_y=True)
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    svc = SVC(kernel="poly", degree=2, coef0=0, decision_function_shape="ovo").fit(X, y)
    ovo = svc.decision_function(X[:6])
    for p, pair in enumerate([(0, 1), (0, 2), (1, 2)]):
        result = LRP(svc).explain_batch(X[:6], target=pair)
        np.testing.assert_allclose(result.output, ovo[:, p], atol=1e-10)
        assert np.abs(result.residual).max() < 1e-10
        flipped = LRP(svc).explain_batch(X[:6], target=pair[::-1])
        np.testing.assert_allclose(flipped.relevance, -result.relevance)
    with pytest.raises(ValueError, match="one-vs-one: target must be a pair"):
        LRP(svc).explain_batch(X[:2], target=1)
    ovr = OneVsRestClassifier(SVC(kernel=histogram_intersection)).fit(X, y)
    result = LRP(ovr).explain_batch(X[:6])
    assert result.target == list(ovr.predict(X[:6]))
    decision = ovr.decision_function(X[:6])
    np.testing.assert_allclose(result.output, decision[np.arange(6), ovr.predict(X[:6])], atol=1e-10)


def test_regressors_and_binary_one_vs_rest(data):
    from sklearn.linear_model import Ridge
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVR

    X, y = data
    target = X @ np.arange(6.0)
    for model in (SVR(kernel="poly", degree=2, coef0=0).fit(X, target), Ridge().fit(X, target)):
        result = LRP(model).explain_batch(X[:4])
        np.testing.assert_allclose(result.output, model.predict(X[:4]), atol=1e-10)
        assert np.abs(result.residual).max() < 1e-10 and result.target == [None] * 4
        with pytest.raises(ValueError, match="single output: target must be None"):
            LRP(model).explain_batch(X[:4], target=1)
    ovr = OneVsRestClassifier(SVC(kernel="linear")).fit(X, y)  # two classes: a single estimator
    pos, neg = LRP(ovr).explain_batch(X[:4], target=1), LRP(ovr).explain_batch(X[:4], target=0)
    np.testing.assert_allclose(pos.output, ovr.decision_function(X[:4]), atol=1e-10)
    np.testing.assert_allclose(neg.relevance, -pos.relevance)


def test_scalers_before_the_model_pass_relevance_through(data, topics):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler

    X, y = data
    pipe = make_pipeline(StandardScaler(), MinMaxScaler(), SVC(kernel="poly", degree=2, coef0=0)).fit(X, y)
    result = LRP(pipe).explain_batch(X[:5], target=1)
    np.testing.assert_allclose(result.output, pipe.decision_function(X[:5]), atol=1e-10)
    assert np.abs(result.residual).max() < 1e-10 and result.rule.startswith("StandardScaler -> MinMaxScaler -> SVC")
    docs, topic = topics
    text = make_pipeline(CountVectorizer(), TfidfTransformer(), Normalizer(), LinearSVC()).fit(docs, topic)
    result = LRP(text).explain_batch(docs[:3], target="space")
    np.testing.assert_allclose(result.output, text.decision_function(docs[:3])[:, 1], atol=1e-10)
    for tokens, f, b in zip(result.info["tokens"], result.output, result.bias_share):
        assert sum(t["relevance"] for t in tokens) == pytest.approx(f - b, abs=1e-10)
    from sklearn.decomposition import PCA

    with pytest.raises(TypeError, match=r"then the model; this one has \['PCA', 'SVC'\]"):
        LRP(make_pipeline(PCA(3), SVC(kernel="linear")).fit(X, y)).explain_batch(X[:2], target=1)


def test_logistic_regression_multinomial(data):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    result = LRP(clf).explain_batch(X[:5], target=2)
    np.testing.assert_allclose(result.relevance, clf.coef_[2] * X[:5])
    np.testing.assert_allclose(result.output, clf.decision_function(X[:5])[:, 2])


def test_rbf_svc_path_and_taylor(data):
    X, y = data
    svc = SVC(kernel="rbf", gamma=2.0).fit(X, y)
    f = svc.decision_function(X[:8])
    path = LRP(svc, rbf="path").explain_batch(X[:8], target=1)
    np.testing.assert_allclose(path.output, f, atol=1e-10)
    assert np.abs(path.residual).max() < 1e-8  # root found to 1e-13, quadrature of a smooth path
    taylor = LRP(svc, rbf="taylor").explain_batch(X[:8], target=1)
    assert np.abs(taylor.residual).max() > 1e-6  # first order only: the residual shows
    neural = LRP(svc, rbf="neuralized").explain_batch(X[:8], target=1)
    assert np.all(np.sign(neural.output) == np.sign(f - svc.intercept_[0]))


def test_one_class_svm(data):
    X, _ = data
    oc = OneClassSVM(kernel="rbf", gamma=3.0, nu=0.2).fit(X)
    result = LRP(oc).explain_batch(X[:5])
    alpha, U = oc.dual_coef_[0], oc.support_vectors_
    k = np.exp(-3.0 * ((X[:5, None] - U[None]) ** 2).sum(-1))
    np.testing.assert_allclose(result.output, -np.log(k @ alpha), rtol=1e-12)
    assert np.abs(result.residual).max() < 1e-10
    linear = OneClassSVM(kernel="linear", nu=0.3).fit(X)
    np.testing.assert_allclose(LRP(linear).explain_batch(X[:5]).output, linear.decision_function(X[:5]), atol=1e-10)


def test_epsilon_shrinks_totals(data):
    X, y = data
    svc = SVC(kernel="linear").fit(X, y)
    r0 = LRP(svc).explain_batch(X[:5], target=1)
    r1 = LRP(svc, eps=0.5).explain_batch(X[:5], target=1)
    f = r0.output
    np.testing.assert_allclose(r1.relevance.sum(1), r0.relevance.sum(1) * f / (f + 0.5 * np.sign(f)))


# -- Fisher vectors and bags of words on fitted pipelines ---------------------------------------
def test_fitted_fisher_vector_without_normalisation_gives_w_phi(data):
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    sets = [rng.normal(size=(20, 3)) + (i % 2) for i in range(30)]
    y = np.arange(30) % 2
    pipe = make_pipeline(FisherVectorEncoder(3, power=1.0, norm=None, random_state=0), LinearSVC()).fit(sets, y)
    result = LRP(pipe).explain_batch(sets[:4], target=1)
    enc, svm = pipe[0], pipe[1]
    for D, R_l, f in zip(sets[:4], result.info["descriptors"], result.output):
        np.testing.assert_allclose(R_l, enc.local_codes(D) @ svm.coef_[0], atol=1e-12)
        assert R_l.sum() == pytest.approx(f - svm.intercept_[0], abs=1e-10)
    np.testing.assert_allclose(result.output, pipe.decision_function(sets[:4]), atol=1e-10)


def test_spatial_pyramid_and_bow_pipeline_to_pixels():
    from sklearn.pipeline import make_pipeline

    images, y = _marker_images(60)
    for encoder in (BagOfWordsEncoder(16, random_state=0, spatial_pyramid=[(1, 1), (2, 2)]),
                    FisherVectorEncoder(4, random_state=0, spatial_pyramid=[(1, 1), (2, 2)])):
        pipe = make_pipeline(DensePatches(size=4, step=2, positions=True), encoder,
                             SVC(kernel=histogram_intersection if isinstance(encoder, BagOfWordsEncoder)
                                 else "linear")).fit(images, y)
        result = LRP(pipe).explain_batch(images[:3], target=1)
        pixels = result.info["pixels"]
        assert pixels.shape == (3, 16, 16)
        np.testing.assert_allclose(result.output, pipe.decision_function(images[:3]), atol=1e-10)
        # pooling and spreading conserve: pixels sum to the relevance of the encoded vector
        np.testing.assert_allclose(pixels.sum(axis=(1, 2)), result.relevance.sum(axis=1), atol=1e-10)


def _marker_images(n, seed=0):
    """Noise images; class 1 carries a bright 4x4 marker in the top-left corner."""
    rng = np.random.default_rng(seed)
    images = rng.random((n, 16, 16)) * 0.5
    y = np.arange(n) % 2
    images[y == 1, 1:5, 1:5] += 1.0
    return images, y


def test_clever_hans_marker_gets_the_largest_relevance():
    from sklearn.pipeline import make_pipeline

    images, y = _marker_images(80)
    pipe = make_pipeline(DensePatches(size=4, step=2), FisherVectorEncoder(2, random_state=0),
                         LinearSVC()).fit(images, y)
    assert pipe.score(*_marker_images(40, seed=1)) == 1.0
    result = LRP(pipe).explain_batch(images[y == 1][:5], target=1)
    for heat in result.info["pixels"]:
        inside = heat[1:5, 1:5].mean()
        assert inside > heat[6:, 6:].mean() + 3 * heat[6:, 6:].std()
        r, c = np.unravel_index(heat.argmax(), heat.shape)
        assert 0 <= r <= 5 and 0 <= c <= 5


# -- bad input ----------------------------------------------------------------------------------
def test_bad_input_errors(data):
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    with pytest.raises(TypeError, match="LRP cannot explain RandomForestClassifier; supported: SVC"):
        LRP(RandomForestClassifier(n_estimators=3).fit(X, y)).explain_batch(X[:2], target=1)
    rbf_callable = SVC(kernel=lambda A, B: np.exp(-((A[:, None] - B[None]) ** 2).sum(-1))).fit(X, y)
    with pytest.raises(ValueError, match="is not the kernel of AdditiveKernel"):
        LRP(rbf_callable, kernel_rule="intersection").explain_batch(X[:2], target=1)
    with pytest.raises(ValueError, match="decomposition is unknown"):
        LRP(rbf_callable).explain_batch(X[:2], target=1)
    svc = SVC(kernel="linear").fit(X, y)
    with pytest.raises(ValueError, match=r"target 7 is not a class of this SVC; classes: \[0, 1\]"):
        LRP(svc).explain_batch(X[:2], target=7)
    with pytest.raises(ValueError, match="X has 5 features but the model was fitted on 6"):
        LRP(svc).explain_batch(X[:2, :5], target=1)
    with pytest.raises(ValueError, match="bias of LRP must be one of"):
        LRP(svc, bias="spread").explain_batch(X[:2], target=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        AdditiveKernel("min")


def test_results_round_trip_through_disk(tmp_path, topics):
    from sklearn.datasets import load_wine
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from blackbox_xai.lrp import Relevance

    X, y = load_wine(return_X_y=True)
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    svc = SVC(kernel="poly", degree=2, coef0=0).fit(X, y)
    images, labels = _marker_images(20)
    docs, topic = topics
    results = [
        LRP(svc).explain_batch(X[:3], target=(0, 2)),                       # pairs, relevance_sv
        LRP(SVC(kernel="rbf").fit(X, y == 1)).explain_batch(X[:2], target=True),  # roots per row
        LRP(make_pipeline(TfidfVectorizer(), LinearSVC()).fit(docs, topic)).explain_batch(docs[:2], target="food"),
        LRP(make_pipeline(DensePatches(4, 4), BagOfWordsEncoder(8, random_state=0), LinearSVC())
            .fit(images, labels)).explain_batch(images[:2], target=1),      # descriptors, pixels
    ]
    for k, result in enumerate(results):
        path = result.save(tmp_path / f"r{k}")
        back = Relevance.load(path)
        np.testing.assert_array_equal(back.relevance, result.relevance)
        np.testing.assert_array_equal(back.residual, result.residual)
        assert back.target == result.target and back.rule == result.rule
        assert set(back.info) == set(result.info)
        if result.relevance_sv is not None:
            np.testing.assert_array_equal(back.relevance_sv, result.relevance_sv)
    assert results[2].info["tokens"] == Relevance.load(tmp_path / "r2.npz").info["tokens"]
    np.testing.assert_array_equal(Relevance.load(tmp_path / "r3.npz").info["pixels"], results[3].info["pixels"])
    for a, b in zip(Relevance.load(tmp_path / "r3.npz").info["descriptors"], results[3].info["descriptors"]):
        np.testing.assert_array_equal(a, b)
