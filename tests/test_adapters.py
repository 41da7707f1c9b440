import pickle

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from blackbox_xai import AdapterNote, ModelOutputError, as_model
from blackbox_xai.adapters import CallableModel, SklearnModel


@pytest.fixture(scope="module")
def wine():
    return load_wine(return_X_y=True)


def test_callable_scores_become_one_column():
    model = as_model(lambda b: b.sum(1))
    assert isinstance(model, CallableModel)
    out = model(np.ones((3, 2)))
    assert out.shape == (3, 1) and out.dtype == np.float64 and model.n_outputs == 1


def test_callable_output_errors_name_model_and_shapes():
    def three_d(batch):
        return np.zeros((len(batch), 2, 2))

    with pytest.raises(ModelOutputError, match=r"three_d returned shape \(4, 2, 2\) for a batch of shape \(4, 3\)"):
        as_model(three_d)(np.ones((4, 3)))
    with pytest.raises(ModelOutputError, match="not a numeric array"):
        as_model(lambda b: ["a"] * len(b))(np.ones((2, 1)))
    model = as_model(lambda b: np.ones((len(b), 2)) if len(b) > 1 else np.ones((1, 3)))
    model(np.ones((2, 1)))
    with pytest.raises(ModelOutputError, match="3 output column"):
        model(np.ones((1, 1)))


def test_classifier_uses_predict_proba_and_pipelines_work(wine):
    X, y = wine
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    model = as_model(pipe)
    assert model.method == "predict_proba" and model.output_kind == "probability"
    np.testing.assert_allclose(model(X[:5]), pipe.predict_proba(X[:5]))
    assert model.n_outputs == 3


def test_bound_predict_of_classifier_is_mapped_with_a_note(wine):
    X, y = wine
    clf = LogisticRegression(max_iter=5000).fit(X, y)
    with pytest.warns(AdapterNote, match="LogisticRegression.predict returns class labels"):
        model = as_model(clf.predict)
    np.testing.assert_allclose(model(X[:3]), clf.predict_proba(X[:3]))


def test_bound_predict_of_classifier_without_probabilities_reads_its_margins(wine):
    """As ``as_model(clf)`` does: class labels are never explained as if they were scores."""
    from sklearn.linear_model import RidgeClassifier

    X, y = wine
    clf = RidgeClassifier().fit(X, y)
    with pytest.warns(AdapterNote, match="explaining decision_function instead .RidgeClassifier has no predict_proba"):
        model = as_model(clf.predict)
    assert model.method == "decision_function" and model.method == as_model(clf).method
    np.testing.assert_allclose(model(X[:3]), clf.decision_function(X[:3]))


def test_regressor_and_decision_function(wine):
    X, y = wine
    reg = LinearRegression().fit(X, y)
    model = as_model(reg)
    assert model.method == "predict"
    np.testing.assert_allclose(model(X[:4])[:, 0], reg.predict(X[:4]))
    svc = SVC().fit(X, y)  # no predict_proba: auto falls back to decision_function
    assert as_model(svc).method == "decision_function"
    clf = LogisticRegression(max_iter=5000).fit(X, y)
    m = as_model(clf, method="decision_function")
    np.testing.assert_allclose(m(X[:2]), clf.decision_function(X[:2]))


def test_sklearn_flattens_image_shaped_inputs(wine):
    X, y = wine
    clf = LogisticRegression(max_iter=5000).fit(X[:, :12], y)
    imgs = X[:3, :12].reshape(3, 3, 4)
    np.testing.assert_allclose(as_model(clf)(imgs), clf.predict_proba(X[:3, :12]))


def test_unfitted_and_unknown_objects():
    with pytest.raises(ValueError, match="LogisticRegression is not fitted"):
        as_model(LogisticRegression())
    with pytest.raises(TypeError, match="cannot use int as a model"):
        as_model(3)
    with pytest.raises(ValueError, match="method of SklearnModel must be one of"):
        SklearnModel(LinearRegression().fit([[0], [1]], [0, 1]), method="transform")


def test_sklearn_model_pickles(wine):
    X, y = wine
    model = as_model(LogisticRegression(max_iter=5000).fit(X, y))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again(X[:2]), model(X[:2]))


def test_torch_module_eval_no_grad_batches_and_restores_mode():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    net.train()
    model = as_model(net, batch_size=3, postprocess="softmax")
    X = np.random.default_rng(0).random((7, 4))
    a, b = model(X), model(X)
    np.testing.assert_array_equal(a, b)  # dropout off: eval mode during calls
    assert net.training  # the user's mode is restored
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-6)
    assert model.output_kind == "probability" and model.device == "cpu"
    with torch.no_grad():
        net.eval()
        ref = torch.softmax(net(torch.tensor(X, dtype=torch.float32)), -1).numpy()
    np.testing.assert_allclose(a, ref, atol=1e-6)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again(X), a)


def test_torch_errors():
    torch = pytest.importorskip("torch")

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(TypeError, match="returned tuple; expected one tensor"):
        as_model(TwoHeads())(np.ones((2, 2)))
    with pytest.raises(ValueError, match="postprocess of TorchModel must be one of"):
        as_model(torch.nn.Linear(2, 2), postprocess="relu")
    # a GPU this process does not have: one clear error, not torch's AssertionError
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(RuntimeError, match=f"device '{missing}' asked for, but torch sees"):
        as_model(torch.nn.Linear(2, 2), device=missing)
    with pytest.raises(RuntimeError, match="use device='cpu'"):
        as_model(torch.nn.Linear(2, 2)).to_device(missing)


def test_input_dtype_is_declared_only_where_the_model_converts_to_it(wine):
    from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier

    X, y = wine
    X_test = X[::7] + 1e-9  # values that float32 rounds
    for estimator in (GradientBoostingClassifier(n_estimators=5, random_state=0),
                      RandomForestRegressor(n_estimators=3, random_state=0), DecisionTreeClassifier(random_state=0)):
        model = as_model(estimator.fit(X, y))
        assert model.input_dtype == np.float32
        # the claim the declaration rests on: float32 inputs give exactly the float64 inputs' outputs
        np.testing.assert_array_equal(model(X_test.astype(np.float32)), model(X_test))
    for estimator in (LogisticRegression(max_iter=2000), HistGradientBoostingClassifier(max_iter=5),
                      make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0))):
        assert as_model(estimator.fit(X, y)).input_dtype is None
    assert as_model(lambda b: b.sum(1)).input_dtype is None


def test_torch_input_dtype_follows_the_module():
    torch = pytest.importorskip("torch")
    assert as_model(torch.nn.Linear(3, 2)).input_dtype == np.float32
    assert as_model(torch.nn.Linear(3, 2).double()).input_dtype == np.float64
    assert as_model(torch.nn.Linear(3, 2), dtype=torch.bfloat16).input_dtype is None  # no NumPy dtype


def test_bound_prediction_methods_get_the_estimators_adapter(wine):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = wine
    clf = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y)
    for method in ("predict_proba", "decision_function"):
        model = as_model(getattr(clf, method))
        assert isinstance(model, SklearnModel) and model.method == method and model.input_dtype == np.float32
        np.testing.assert_array_equal(model(X[:5]), getattr(clf, method)(X[:5]))
    assert as_model(clf.predict_proba, batch_size=7).batch_size == 7
    assert as_model(clf.predict_proba, chunk_bytes=None).chunk_bytes is None
    assert isinstance(as_model(clf.predict_proba, output_kind="logit"), CallableModel)  # callable options
    reg = LinearRegression().fit(X, y)
    assert as_model(reg.predict).method == "predict"
    assert isinstance(as_model(np.linalg.norm), CallableModel)
    with pytest.raises(ValueError, match="not fitted"):
        as_model(LogisticRegression().predict_proba)


def test_sklearn_models_prefer_cache_sized_calls(wine):
    X, y = wine
    clf = LogisticRegression(max_iter=2000).fit(X, y)
    assert as_model(clf).chunk_bytes == 8 * 2**20
    assert as_model(clf, chunk_bytes=4096).chunk_bytes == 4096
    assert as_model(clf, chunk_bytes=None).chunk_bytes is None
    assert as_model(lambda b: b.sum(1)).chunk_bytes is None  # no preference where nothing is known
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=r"chunk_bytes of SklearnModel must be None or an int in \[1, inf\)"):
            as_model(clf, chunk_bytes=bad)


def test_the_predict_note_is_one_line_once_per_model(wine):
    import warnings

    X, y = wine
    clf = LogisticRegression(max_iter=5000).fit(X, y)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for _ in range(3):
            as_model(clf.predict)
    notes = [w for w in seen if issubclass(w.category, AdapterNote)]
    assert len(notes) == 1
    text = warnings.formatwarning(notes[0].message, notes[0].category, notes[0].filename, notes[0].lineno)
    assert text.count("\n") == 1 and "as_model" not in text  # one line, no source line under it
    other = LogisticRegression(max_iter=5000).fit(X, y)
    with pytest.warns(AdapterNote):
        as_model(other.predict)  # another model gets its own note


def test_a_budgeted_model_stops_at_its_limits_and_no_row_takes_the_blame():
    import time

    from blackbox_xai import OcclusionExplainer
    from blackbox_xai.adapters import BudgetedModel, as_model
    from blackbox_xai.exceptions import BudgetExceededError
    from blackbox_xai.jobs import explain_rows

    X = np.ones((3, 4))
    counted = BudgetedModel(as_model(lambda b: b.sum(axis=1)), max_evaluations=10)
    with pytest.raises(BudgetExceededError, match="more than the 10 model evaluations allowed") as caught:
        explain_rows(OcclusionExplainer(counted, 1), X, ["a", "b", "c"], on_error="record")
    assert caught.value.kind == "evaluations" and counted.n_evaluations <= 10
    late = BudgetedModel(as_model(lambda b: b.sum(axis=1)), deadline=time.monotonic() - 1)
    with pytest.raises(BudgetExceededError, match="time allowed for this explanation is up") as caught:
        OcclusionExplainer(late, 1).explain(X[0])
    assert caught.value.kind == "time"
    free = BudgetedModel(as_model(lambda b: b.sum(axis=1)))
    assert len(OcclusionExplainer(free, 1).explain_batch(X)) == 3 and free.n_evaluations == 15


def test_a_function_can_declare_the_dtype_it_computes_in():
    from blackbox_xai import KernelShapExplainer
    from blackbox_xai.adapters import as_model

    seen = []

    def model(batch):
        seen.append(batch.dtype)
        return batch.astype(np.float32).sum(axis=1)

    X = np.random.default_rng(0).random((10, 4))
    declared = KernelShapExplainer(as_model(model, input_dtype="float32"), X, n_samples=30, random_state=0).explain(X[0])
    assert set(seen) == {np.dtype(np.float32)}
    seen.clear()
    plain = KernelShapExplainer(model, X, n_samples=30, random_state=0).explain(X[0])
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_allclose(declared.values, plain.values, rtol=1e-6, atol=1e-6)
