"""RemoteModel against real model servers started from their own virtualenvs
(tests/model_servers.py): MLServer 1.7.1 (Open Inference Protocol v2) and MLflow 3.17.2.

Where the virtualenvs cannot be built (no registry), these tests skip, unless
BLACKBOX_XAI_REQUIRE_SERVERS=1 (set by .ci/run, which builds them first) makes that a failure.
"""
import os

import joblib
import pytest

from blackbox_xai import KernelShapExplainer, SISExplainer
from blackbox_xai.adapters import RemoteModel
from blackbox_xai.exceptions import RemoteModelError

import model_servers
from helpers import assert_close_across_calls


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(clf, path)
    return clf, X, str(path)


def _serve(start, fitted, tmp_path_factory):
    try:
        url, proc = start(fitted[2], str(tmp_path_factory.mktemp("server")))
    except Exception as exc:  # noqa: BLE001 - no registry, or the server would not start
        if os.environ.get("BLACKBOX_XAI_REQUIRE_SERVERS") == "1":
            raise
        pytest.skip(f"{start.__name__}: {exc}")
    return url, proc


@pytest.fixture(scope="module")
def mlserver(fitted, tmp_path_factory):
    url, proc = _serve(model_servers.start_mlserver, fitted, tmp_path_factory)
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def mlflow(fitted, tmp_path_factory):
    url, proc = _serve(model_servers.start_mlflow, fitted, tmp_path_factory)
    yield url
    proc.stop()


def _same_kernel_shap(remote, clf, X):
    kwargs = dict(background=X[:30], n_samples=512, random_state=0)
    got = KernelShapExplainer(remote, **kwargs).explain_batch(X[40:43])
    want = KernelShapExplainer(clf, **kwargs).explain_batch(X[40:43])
    for a, b in zip(got, want):
        assert_close_across_calls(a.values, b.values)
        assert_close_across_calls(a.std_errors, b.std_errors)
    return got


def test_mlserver_kernel_shap_equals_local(mlserver, fitted):
    clf, X, _ = fitted
    remote = RemoteModel(mlserver, output="predict_proba", max_batch_rows=1000)
    got = _same_kernel_shap(remote, clf, X)
    evaluations = sum(a.n_evaluations for a in got)
    assert evaluations / 1000 <= remote.n_requests <= evaluations / 1000 + 3 * 4  # per-chunk remainders


def test_mlserver_sis_equals_local(mlserver, fitted):
    clf, X, _ = fitted
    remote = RemoteModel(mlserver, output="predict_proba")
    kwargs = dict(threshold=0.95, masked_value=X.mean(axis=0))
    got = SISExplainer(remote, **kwargs).explain(X[0])
    want = SISExplainer(clf, **kwargs).explain(X[0])
    assert [s.indices.tolist() for s in got] == [s.indices.tolist() for s in want]
    assert_close_across_calls([s.score for s in got], [s.score for s in want])


def test_mlserver_plain_text_500_reaches_the_message(mlserver, fitted):
    """MLServer answers a wrongly shaped input with a plain-text 500 (a traceback)."""
    remote = RemoteModel(mlserver, retries=1, backoff=0.01)
    with pytest.raises(RemoteModelError, match="(?s)HTTP 500.*X has 29 features") as info:
        remote(fitted[1][:2, :29])
    assert "gave up after 2 attempt(s)" in str(info.value)


def test_mlflow_kernel_shap_equals_local(mlflow, fitted):
    clf, X, _ = fitted
    _same_kernel_shap(RemoteModel(mlflow), clf, X)


def test_mlflow_bad_request_is_not_retried(mlflow, fitted):
    remote = RemoteModel(mlflow, retries=3)
    with pytest.raises(RemoteModelError, match="HTTP 400: BAD_REQUEST") as info:
        remote(fitted[1][:2, :29])
    assert info.value.status == 400 and remote.n_retries == 0
