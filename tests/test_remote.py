"""RemoteModel against the tests' own loopback server (tests/loopback.py): protocols, faults,
retries, concurrency, Ray. The real model servers (MLServer, MLflow) are in test_remote_servers.py."""
import json
import pickle

import numpy as np
import pytest

from blackbox_xai import KernelShapExplainer, SISExplainer, as_model
from blackbox_xai.adapters import RemoteModel
from blackbox_xai.adapters.protocols import json_array, parse_url, v2_datatype
from blackbox_xai.exceptions import RemoteModelError
from helpers import assert_close_across_calls
from loopback import LoopbackServer


@pytest.fixture(scope="module")
def clf():
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y), X


def fast(url, **options):
    """A RemoteModel that gives up quickly (tests wait for its backoff)."""
    options = {"backoff": 0.01, "timeout": 5, **options}
    return RemoteModel(url, **options)


# -- URLs and construction ------------------------------------------------------------------------
@pytest.mark.parametrize("url, expected", [
    ("http://h:1/v2/models/m", ("http://h:1", "", "v2", "m", None)),
    ("http://h:1/v2/models/m/versions/3/infer", ("http://h:1", "", "v2", "m", "3")),
    ("https://h/kserve/v2/models/m/", ("https://h", "/kserve", "v2", "m", None)),
    ("http://h:1/invocations", ("http://h:1", "", "mlflow", None, None)),
    ("http://h:1/v1/models/m:predict", ("http://h:1", "", "tfserving", "m", None)),
    ("http://h:1/v1/models/m/versions/2:predict", ("http://h:1", "", "tfserving", "m", "2")),
    ("http://h:1", ("http://h:1", "", None, None, None)),
])
def test_parse_url(url, expected):
    assert parse_url(url) == expected


def test_construction_errors():
    with pytest.raises(ValueError, match="cannot tell the protocol"):
        RemoteModel("http://h:1/predict")
    with pytest.raises(ValueError, match="needs model_name"):
        RemoteModel("http://h:1", protocol="v2")
    with pytest.raises(ValueError, match="is a v2 endpoint but protocol='mlflow'"):
        RemoteModel("http://h:1/v2/models/m", protocol="mlflow")
    with pytest.raises(ValueError, match="http:// or https://"):
        RemoteModel("ftp://h/v2/models/m")
    with pytest.raises(ValueError, match="names no model"):
        RemoteModel("http://h:1/v2/models/")
    with pytest.raises(ValueError, match="max_batch_rows"):
        RemoteModel("http://h:1/invocations", max_batch_rows=0)
    with pytest.raises(TypeError, match="no Open Inference Protocol datatype"):
        RemoteModel("http://h:1/invocations", dtype="complex64")
    with pytest.raises(TypeError, match="must be the http"):
        as_model("model.joblib")
    model = as_model("http://h:1/v2/models/m", output="predict_proba")
    assert isinstance(model, RemoteModel) and model.protocol == "v2" and model.output == "predict_proba"


def test_datatypes():
    assert v2_datatype(np.float64) == "FP64" and v2_datatype("float32") == "FP32"
    assert v2_datatype(np.int64) == "INT64" and v2_datatype(bool) == "BOOL" and v2_datatype(np.uint8) == "UINT8"
    assert v2_datatype(np.array(["a doc"]).dtype) == "BYTES" and v2_datatype(object) == "BYTES"
    with pytest.raises(TypeError):
        v2_datatype(np.complex128)


def test_pickles_without_connections_and_splits_concurrency():
    model = RemoteModel("http://h:1/v2/models/m", max_concurrency=8, max_batch_rows=100)
    model._connection()  # a live per-thread connection must not travel
    copy = pickle.loads(pickle.dumps(model))
    assert copy.url == model.url and copy.n_requests == 0 and not hasattr(copy._local, "conn")
    share = model.for_copies(3)
    assert share.max_concurrency == 2 and share.batch_size == 200 and model.max_concurrency == 8
    assert model.for_copies(16).max_concurrency == 1
    assert model.for_copies(1) is model


# -- protocols: remote == local, to the last bits a BLAS may change -------------------------------------------------------
@pytest.mark.parametrize("protocol", ["v2", "mlflow", "tfserving"])
def test_remote_kernel_shap_equals_local(clf, protocol):
    clf, X = clf
    with LoopbackServer(clf.predict_proba) as server:
        remote = fast(server.url(protocol), max_batch_rows=500, max_concurrency=3)
        kwargs = dict(background=X[:20], n_samples=256, random_state=0)
        a = KernelShapExplainer(remote, **kwargs).explain(X[25])
        b = KernelShapExplainer(clf, **kwargs).explain(X[25])
        assert_close_across_calls(a.values, b.values)
        assert_close_across_calls(a.base_value, b.base_value)
        # each request carried at most max_batch_rows rows, and every evaluation was sent once
        sizes = [len(r["rows"]) for r in server.log]
        assert max(sizes) <= 500 and sum(sizes) == a.n_evaluations
        assert remote.n_requests == len(server.log)


def test_remote_sis_equals_local_v2(clf):
    clf, X = clf
    with LoopbackServer(clf.predict_proba) as server:
        remote = fast(server.url("v2"), output="predict_proba", max_batch_rows=16)
        a = SISExplainer(remote, threshold=0.9, masked_value=X.mean(axis=0)).explain(X[0])
        b = SISExplainer(clf, threshold=0.9, masked_value=X.mean(axis=0)).explain(X[0])
        assert [s.indices.tolist() for s in a] == [s.indices.tolist() for s in b]
        assert a.n_evaluations == b.n_evaluations
        assert server.log[0]["body"]["outputs"] == [{"name": "predict_proba"}]


def test_lime_and_occlusion_remote_equal_local(clf):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from blackbox_xai import LimeExplainer, OcclusionExplainer

    clf, X = clf
    docs = ["the rocket reached orbit", "the match ended in a draw", "a probe in orbit around mars",
            "the team won the cup", "orbit and launch window", "goal in the last minute"]
    text = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0, 1, 0])
    image = lambda batch: batch.reshape(len(batch), -1) @ np.linspace(-1, 1, 64)  # noqa: E731
    cases = [
        (clf.predict_proba, LimeExplainer, dict(training_data=X, n_samples=300, random_state=0), X[3]),
        (text.predict_proba, LimeExplainer, dict(mode="text", n_samples=200, random_state=0), docs[2]),
        (image, OcclusionExplainer, dict(window=(2, 2), strides=(2, 2)), np.arange(64.0).reshape(8, 8)),
    ]
    for fn, explainer, kwargs, x in cases:
        with LoopbackServer(fn) as server:
            got = explainer(fast(server.url("v2"), max_batch_rows=64), **kwargs).explain(x)
            sent = server.log[0]["body"]["inputs"][0]
        want = explainer(fn, **kwargs).explain(x)
        assert_close_across_calls(got.values, want.values)
        assert sent["datatype"] == ("BYTES" if isinstance(x, str) else "FP64")


def test_dtype_is_sent_as_declared(clf):
    clf, X = clf
    with LoopbackServer(clf.predict_proba) as server:
        fast(server.url("v2"), dtype="float32")(X[:3])
        assert server.log[-1]["body"]["inputs"][0]["datatype"] == "FP32"
        assert fast(server.url("v2"), dtype="float32").input_dtype == np.float32
        assert fast(server.url("v2"), dtype="int64").input_dtype is None
        fast(server.url("v2"))(X[:3].astype(np.int64))
        assert server.log[-1]["body"]["inputs"][0]["datatype"] == "INT64"


def test_mlflow_columns_send_a_dataframe_split():
    with LoopbackServer(lambda rows: rows.sum(axis=1)) as server:
        model = fast(server.url("mlflow"), columns=["a", "b"])
        with pytest.raises(ValueError, match="2 columns"):
            model(np.ones((2, 3)))
    body = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.0, 2.0]]}}
    assert json.loads(model.wire.encode(np.array([[1.0, 2.0]]))) == body


@pytest.mark.parametrize("a", [
    np.array([[0.1, -0.0, 0.0], [1e-300, 0.1, 3.0]]),   # -0.0 kept apart from 0.0
    np.tile(np.array([1 / 3, 2.5, -7.0]), (4, 2)),       # few distinct values: the fast path
    np.random.default_rng(0).normal(size=(3, 2, 5)),     # distinct values: the plain path
    np.arange(12, dtype=np.int64).reshape(2, 3, 2) % 3,
    np.ones((2, 3), dtype=np.float32) / 3,
    np.zeros((0, 3)),
    np.array([True, False, True]),
])
def test_json_array_is_exact(a):
    text = json_array(a)
    assert text == json.dumps(a.tolist(), separators=(",", ":"))
    back = np.asarray(json.loads(text), dtype=a.dtype).reshape(a.shape)
    assert back.tobytes() == a.tobytes()


def test_json_array_refuses_floats_wider_than_float64():
    with pytest.raises(TypeError, match="cast the inputs to float64"):
        json_array(np.ones((2, 3), dtype=np.longdouble))


@pytest.mark.parametrize("a", [
    np.array([[0.1, -0.0, 1e-45], [3.4028235e38, 1 / 3, 16777217.0]], dtype=np.float32),  # extremes, -0.0
    np.random.default_rng(1).normal(size=(40, 7)).astype(np.float32),                    # the plain path
    np.tile(np.float32([0.1, 2.5, -7.3]), (6, 3)),                                        # few distinct values
    np.array([1.0, np.inf, -np.inf, np.nan], dtype=np.float16),
])
def test_json_array_as_declared_writes_narrow_floats_shortest(a):
    """A receiver told the dtype (v2's datatype) reads back every value bit for bit from the
    shortest text of that dtype: float32 in at most 9 significant digits, not 17."""
    text = json_array(a, as_declared=True)
    back = np.asarray(json.loads(text), dtype=a.dtype).reshape(a.shape)
    assert back.tobytes() == a.tobytes() or (np.isnan(a).any() and np.array_equal(back, a, equal_nan=True))
    assert len(text) <= len(json_array(a))
    if a.dtype == np.float32 and np.isfinite(a).all():
        assert len(text) < 0.75 * len(json_array(a))
    assert json_array(np.float64([[0.1, 1 / 3]]), as_declared=True) == "[[0.1,0.3333333333333333]]"


def test_float32_inputs_reach_a_v2_server_exactly():
    X = np.random.default_rng(2).normal(size=(30, 4)).astype(np.float32)
    with LoopbackServer(_rowsum) as server:
        out = fast(server.url("v2"), dtype="float32")(X)
        sent = server.log[-1]["rows"]
    assert sent.dtype == np.float32 and sent.tobytes() == X.tobytes()
    np.testing.assert_array_equal(out, _rowsum(X))


def test_choosing_among_several_outputs():
    model = RemoteModel("http://h:1/v2/models/m")
    doc = {"outputs": [{"name": "a", "shape": [1, 1], "datatype": "FP64", "data": [1.0]},
                       {"name": "b", "shape": [1, 1], "datatype": "FP64", "data": [2.0]}]}
    with pytest.raises(RemoteModelError, match=r"outputs \['a', 'b'\]: choose one"):
        model.wire.decode(doc)
    model.output = "b"
    assert model.wire.decode(doc).tolist() == [[2.0]]
    bytes_doc = {"outputs": [{"name": "b", "shape": [1], "datatype": "BYTES", "data": ["x"]}]}
    with pytest.raises(RemoteModelError, match="not numeric"):
        model.wire.decode(bytes_doc)
    tf = RemoteModel("http://h:1/v1/models/m")
    with pytest.raises(RemoteModelError, match="choose one with output="):
        tf.wire.decode({"predictions": {"p": [[1.0]], "q": [[0.0]]}})
    tf.output = "q"
    assert tf.wire.decode({"predictions": {"p": [[1.0]], "q": [[0.0]]}}).tolist() == [[0.0]]
    assert tf.wire.decode({"outputs": [[3.0]]}).tolist() == [[3.0]]  # columnar answer


# -- faults: retried or surfaced exactly as specified ---------------------------------------------
def _run(server, protocol="v2", n=40, **options):
    model = fast(server.url(protocol), **options)
    X = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    return model, X, model(X)


def _rowsum(rows):
    return np.stack([rows.sum(axis=1), -rows.sum(axis=1)], axis=1)


def _assert_each_row_answered_once(server, X):
    answered = server.answered_rows()
    assert len(answered) == len(X)
    np.testing.assert_array_equal(np.sort(answered, axis=0), X)


def test_dropped_connection_is_retried_and_no_row_is_lost():
    # the first drop hits the connection kept alive since the readiness check: resent at once on
    # a new one (a server closing idle connections looks the same); the second, on that fresh
    # connection, is a failure and retried after a backoff; both resends are counted
    with LoopbackServer(_rowsum, faults=["drop", "drop"]) as server:
        model, X, out = _run(server, max_batch_rows=10, max_concurrency=1)
    np.testing.assert_array_equal(out, _rowsum(X))
    assert model.n_retries == 2 and model.n_requests == 4 and len(server.log) == 6
    assert model.n_retries == len(server.log) - model.n_requests
    assert [r["outcome"] for r in server.log[:3]] == ["dropped", "dropped", "ok"]
    _assert_each_row_answered_once(server, X)


@pytest.mark.parametrize("protocol", ["v2", "tfserving"])
def test_503_then_200_is_retried(protocol):
    fault = ("status", 503, {"error": "busy"}, "application/json")
    with LoopbackServer(_rowsum, faults=[fault, fault]) as server:
        model, X, out = _run(server, protocol, max_batch_rows=100)
    np.testing.assert_array_equal(out, _rowsum(X))
    assert model.n_retries == 2 and [r["outcome"] for r in server.log] == ["status 503"] * 2 + ["ok"]
    _assert_each_row_answered_once(server, X)


def test_429_honours_retry_after(monkeypatch):
    import blackbox_xai.adapters.remote as remote

    waits = []
    monkeypatch.setattr(remote.time, "sleep", waits.append)  # the delays asked for, not the clock
    fault = ("status", 429, {"error": "slow down"}, "application/json", [("Retry-After", "0.3")])
    with LoopbackServer(_rowsum, faults=[fault]) as server:
        model, X, out = _run(server)
    np.testing.assert_array_equal(out, _rowsum(X))
    # Retry-After beats the 0.01 s backoff (the server's own sleep(0) calls are recorded too)
    assert model.n_retries == 1 and [w for w in waits if w > 0] == [0.3]


def test_400_with_json_error_is_not_retried():
    fault = ("status", 400, {"error": "input-0 has the wrong shape [40, 3]"}, "application/json")
    with LoopbackServer(_rowsum, faults=[fault]) as server:
        with pytest.raises(RemoteModelError, match=r"HTTP 400: input-0 has the wrong shape \[40, 3\]") as info:
            _run(server)
        assert len(server.log) == 1
    assert info.value.status == 400


def test_mlflow_error_fields_reach_the_message():
    fault = ("status", 400, {"error_code": "BAD_REQUEST", "message": "columns missing"}, "application/json")
    with LoopbackServer(_rowsum, faults=[fault]) as server:
        with pytest.raises(RemoteModelError, match="HTTP 400: BAD_REQUEST: columns missing"):
            _run(server, "mlflow")


def test_500_plain_text_is_retried_then_surfaced():
    text = b"Traceback (most recent call last):\n  ...\nValueError: X has 3 features, expected 30\n"
    fault = ("status", 500, text, "text/plain; charset=utf-8")
    with LoopbackServer(_rowsum, faults=[fault] * 3) as server:
        with pytest.raises(RemoteModelError, match="(?s)HTTP 500: .*ValueError: X has 3 features, expected 30") as info:
            _run(server, retries=2)
        assert len(server.log) == 3 and "gave up after 3 attempt(s)" in str(info.value)
    with LoopbackServer(_rowsum, faults=[fault]) as server:  # once, then fine
        model, X, out = _run(server, retries=2)
        np.testing.assert_array_equal(out, _rowsum(X))


def test_a_request_past_the_timeout_is_retried_then_surfaced():
    with LoopbackServer(_rowsum, faults=[("sleep", 1.0)]) as server:
        model, X, out = _run(server, timeout=0.3)
        np.testing.assert_array_equal(out, _rowsum(X))
        assert model.n_retries == 1
        _assert_each_row_answered_once(server, X)
    with LoopbackServer(_rowsum, faults=[("sleep", 1.0)] * 2) as server:
        with pytest.raises(RemoteModelError, match="timed out.*gave up after 2 attempt"):
            _run(server, timeout=0.3, retries=1)


def test_a_short_answer_is_an_error_naming_the_rows():
    with LoopbackServer(_rowsum, faults=[("rows", 5)]) as server:
        with pytest.raises(RemoteModelError, match="returned 5 row.*request of 40 rows"):
            _run(server)


def test_server_down_or_model_missing_is_a_clear_error():
    with LoopbackServer(_rowsum) as server:
        url = server.url("v2")
    with pytest.raises(RemoteModelError, match="Connection refused.*is the server running"):
        fast(url, retries=1)(np.ones((2, 3)))
    with LoopbackServer(_rowsum, ready=False) as server:
        with pytest.raises(RemoteModelError, match="HTTP 404: Model m not found") as info:
            fast(server.url("v2"))(np.ones((2, 3)))
        assert info.value.status == 404 and server.log == []


def test_engine_does_not_rerun_inputs_after_a_server_error():
    fault = ("status", 400, {"error": "bad"}, "application/json")
    with LoopbackServer(_rowsum, faults=[fault] * 5) as server:
        explainer = KernelShapExplainer(fast(server.url("v2")), background=np.zeros((1, 3)), n_samples=6)
        with pytest.raises(RemoteModelError):
            explainer.explain_batch(np.ones((3, 3)))
        assert len(server.log) == 1


def test_concurrency_is_bounded():
    with LoopbackServer(_rowsum, delay=0.05) as server:
        model, X, out = _run(server, n=80, max_batch_rows=10, max_concurrency=3)
        np.testing.assert_array_equal(out, _rowsum(X))
        assert model.n_requests == 8 and 1 < server.max_in_flight <= 3  # parallel, within the bound
        # two threads sharing the model still keep to the bound
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(model, [X, X]))
        assert server.max_in_flight <= 3


# -- Ray: workers open their own connections; the job keeps to the server's budget ----------------
def test_remote_model_on_ray_workers(ray_local, clf, tmp_path):
    from blackbox_xai.executors import RayExecutor
    from blackbox_xai.jobs import load_results, run_job

    clf, X = clf
    kwargs = dict(background=X[:10], n_samples=128, random_state=0)
    with LoopbackServer(clf.predict_proba, delay=0.01) as server:
        remote = fast(server.url("v2"), max_batch_rows=200, max_concurrency=2)
        a = KernelShapExplainer(remote, executor=RayExecutor(num_workers=2), **kwargs).explain_batch(X[:4])
        run_job(remote, X[:8], {"method": "kernelshap", **kwargs}, tmp_path,
                shard_size=2, executor=RayExecutor(num_workers=2), progress=False)
        assert server.max_in_flight <= 2
    b = KernelShapExplainer(clf, **kwargs).explain_batch(X[:8])
    for got, want in zip(a + load_results(tmp_path), b[:4] + b):
        assert_close_across_calls(got.values, want.values)


def test_cli_explains_a_served_model(clf, tmp_path, capsys):
    from blackbox_xai.cli import main
    from blackbox_xai.jobs import load_results

    clf, X = clf
    np.save(tmp_path / "X.npy", X[:4])
    np.save(tmp_path / "bg.npy", X[:10])
    with LoopbackServer(clf.predict_proba) as server:
        code = main(["explain", "--model", server.url("v2"), "--output", "predict_proba", "--data",
                     str(tmp_path / "X.npy"), "--method", "kernelshap", "--background",
                     str(tmp_path / "bg.npy"), "--n-samples", "64", "--out", str(tmp_path / "job"),
                     "--no-progress"])
    assert code == 0 and "4/4 rows" in capsys.readouterr().out
    want = KernelShapExplainer(clf, X[:10], n_samples=64, random_state=0).explain_batch(X[:4])
    for got, ref in zip(load_results(tmp_path / "job"), want):
        assert_close_across_calls(got.values, ref.values)


# -- only 200 is an answer; credentials; TLS -----------------------------------------------------
def _right_shaped(rows=40):
    """A v2 answer of the right shape, as a misconfigured proxy might send with another status."""
    out = np.zeros((rows, 2))
    return {"model_name": "m", "outputs": [{"name": "predict_proba", "shape": list(out.shape),
                                            "datatype": "FP64", "data": out.ravel().tolist()}]}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_an_error_that_names_where_it_points(status):
    location = "http://elsewhere.invalid:8080/v2/models/m/infer"
    fault = ("status", status, _right_shaped(), "application/json", [("Location", location)])
    with LoopbackServer(_rowsum, faults=[fault]) as server:
        with pytest.raises(RemoteModelError, match=f"redirected \\(HTTP {status}.*to {location}") as info:
            _run(server)
        assert len(server.log) == 1  # neither followed nor retried
    assert info.value.status == status


@pytest.mark.parametrize("status, body", [(202, _right_shaped()), (206, _right_shaped()), (204, b""),
                                          (304, b"")])
def test_a_status_other_than_200_is_no_answer(status, body):
    with LoopbackServer(_rowsum, faults=[("status", status, body, "application/json")]) as server:
        with pytest.raises(RemoteModelError, match=f"got HTTP {status} .*carries no model output") as info:
            _run(server)
        assert len(server.log) == 1
    assert info.value.status == status


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown():
    import base64

    with LoopbackServer(_rowsum) as server:
        url = server.url("v2").replace("http://", "http://alice:s3cr%40t@")
        model = fast(url)
        np.testing.assert_array_equal(model(np.ones((2, 3))), _rowsum(np.ones((2, 3))))
        sent = server.log[0]["headers"]["Authorization"]
    assert base64.b64decode(sent.split()[1]).decode() == "alice:s3cr@t"
    assert "s3cr" not in repr(model) and "s3cr" not in model.url and "alice:***@" in repr(model)
    down = fast(url, retries=0)  # the server is gone: the error names the model, not the password
    with pytest.raises(RemoteModelError) as info:
        down(np.ones((2, 3)))
    assert "s3cr" not in str(info.value) and "alice:***@" in str(info.value)
    with pytest.raises(ValueError, match="names no model") as info:
        fast("http://alice:s3cret@h:1/v2/models/")
    assert "s3cret" not in str(info.value)
    with pytest.raises(ValueError, match="Authorization too"):
        fast(url, headers={"Authorization": "Bearer x"})
    assert "s3cr" not in repr(pickle.loads(pickle.dumps(model)))


def test_a_certificate_that_cannot_be_verified_is_final(tmp_path):
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LoopbackServer(_rowsum, tls=context) as server:
        model = fast(server.url("v2"), retries=3)
        with pytest.raises(RemoteModelError, match="TLS certificate could not be verified.*not retried") as info:
            model(np.ones((2, 3)))
        assert server.connections == 1 and model.n_retries == 0
    assert "is the server running" not in str(info.value)
