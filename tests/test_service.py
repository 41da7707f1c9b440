"""The explanation service, through a real HTTP client against a server on 127.0.0.1."""
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import joblib
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed (pip install 'blackbox-xai[serve]')")
httpx = pytest.importorskip("httpx", reason="the tests talk to the service with httpx")
uvicorn = pytest.importorskip("uvicorn", reason="the service extra is not installed")

from blackbox_xai import (  # noqa: E402
    KernelShapExplainer, LimeExplainer, OcclusionExplainer, SISExplainer, result_from_json,
)
from blackbox_xai.adapters import BudgetedModel, as_model  # noqa: E402
from blackbox_xai.jobs import load_results, run_job  # noqa: E402
from blackbox_xai.service import ModelEntry, create_app, load_config  # noqa: E402
from helpers import assert_same  # noqa: E402
from loopback import LoopbackServer, ServiceThread  # noqa: E402


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    path = tmp_path_factory.mktemp("models") / "clf.joblib"
    joblib.dump(clf, path)
    return clf, X, str(path)


@pytest.fixture
def service(iris, tmp_path):
    started = []

    def start(entries=None, token=None, limits=None, loaded=None):
        entries = entries or [ModelEntry("clf", iris[2])]
        config = load_config(None, entries, token=token, jobs_dir=str(tmp_path / "jobs"), limits=limits)
        started.append(ServiceThread(create_app(config, models=loaded)))
        return started[-1]

    yield start
    for s in started:
        s.close()


def _explain(svc, body, model="clf", **kw):
    return svc.client.post(f"/v1/models/{model}:explain", json=body, **kw)


def _error(response, status):
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


METHOD_CASES = {
    "sis": {"threshold": 0.9, "masked_value": [5.8, 3.0, 3.8, 1.2]},
    "kernelshap": {"background": "X[:20]", "n_samples": 200, "random_state": 0},
    "lime": {"training_data": "X", "n_samples": 300, "random_state": 0},
    "occlusion": {"window": [1], "masked_value": 0.0},
}
LOCAL = {"sis": SISExplainer, "kernelshap": KernelShapExplainer, "lime": LimeExplainer,
         "occlusion": OcclusionExplainer}


def _resolve(params, X):
    return {k: (X[:20] if v == "X[:20]" else X if v == "X" else v) for k, v in params.items()}


@pytest.mark.parametrize("method", sorted(METHOD_CASES))
def test_explanations_over_http_equal_the_librarys(service, iris, method):
    clf, X, _ = iris
    svc = service()
    params = _resolve(METHOD_CASES[method], X)
    wire = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in params.items()}
    rows = X[[0, 120, 140]]
    response = _explain(svc, {"instances": rows.tolist(), "method": method, "parameters": wire})
    assert response.status_code == 200, response.text
    answer = response.json()
    got = [result_from_json(doc) for doc in answer["explanations"]]
    local_params = {k: (tuple(v) if k == "window" else np.asarray(v)) if isinstance(v, list) else v
                    for k, v in params.items()}
    counted = BudgetedModel(as_model(clf))  # counts the model rows evaluated
    expected = LOCAL[method](counted, **local_params).explain_batch(rows)
    assert_same(got, expected)
    assert answer["n_evaluations"] == counted.n_evaluations > 0


def test_text_lime_over_http(service, tmp_path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs = ["good fine film", "bad awful film", "good good plot", "awful bad plot"] * 5
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 5)
    joblib.dump(pipe, tmp_path / "text.joblib")
    svc = service([ModelEntry("text", str(tmp_path / "text.joblib"))])
    params = {"mode": "text", "n_samples": 200, "random_state": 0}
    answer = _explain(svc, {"instances": ["good awful plot", 3], "method": "lime", "parameters": params},
                      model="text").json()
    expected = LimeExplainer(pipe, **params).explain("good awful plot")
    assert_same([result_from_json(answer["explanations"][0])], [expected])
    assert answer["explanations"][1]["error"]["message"] == "instance 1: a text explainer takes a string, got int"


def test_the_v2_route_answers_as_the_v1_route(service, iris):
    X = iris[1]
    svc = service()
    v1 = _explain(svc, {"instances": X[:2].tolist(), "method": "occlusion", "parameters": {"window": [2]}}).json()
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": X[:2].ravel().tolist()}],
            "parameters": {"method": "occlusion", "window": [2]}}
    v2 = svc.client.post("/v2/models/clf/explain", json=body).json()
    assert [json.loads(d) for d in v2["outputs"][0]["data"]] == v1["explanations"]


def test_one_bad_instance_gets_its_own_error(service, iris):
    X = iris[1]
    svc = service()
    body = {"instances": [X[0].tolist(), [1.0, 2.0], "abc", X[1].tolist()], "method": "occlusion",
            "parameters": {"window": [1]}}
    answer = _explain(svc, body).json()["explanations"]
    assert "values" in answer[0]["arrays"] and "values" in answer[3]["arrays"]
    assert "X has 2 features, but LogisticRegression is expecting 4" in answer[1]["error"]["message"]
    assert answer[1]["error"]["type"] == "ModelError"
    assert answer[2]["error"]["message"] == "instance 2 is not an array of numbers"


def test_requests_that_cannot_be_answered_get_their_status(service, iris):
    X = iris[1]
    svc = service(limits={"max_instances": 3, "max_body_bytes": 4000, "max_evaluations": 500})
    ok = {"instances": X[:1].tolist(), "method": "occlusion", "parameters": {"window": [1]}}
    assert _explain(svc, ok).status_code == 200
    assert "not valid JSON" in _error(svc.client.post("/v1/models/clf:explain", content=b"{bad"), 400)
    assert "must be a JSON object" in _error(svc.client.post("/v1/models/clf:explain", json=[1]), 400)
    assert _error(_explain(svc, ok, model="nope"), 404) == "no model named 'nope'; this service has ['clf']"
    assert "method must be one of ['sis', 'kernelshap', 'lime', 'occlusion'], got 'shap'" in _error(
        _explain(svc, {**ok, "method": "shap"}), 422)
    assert "occlusion has no parameter 'windw'" in _error(_explain(svc, {**ok, "parameters": {"windw": 1}}), 422)
    assert "parameter 'executor' is the service's to set" in _error(
        _explain(svc, {**ok, "parameters": {"window": [1], "executor": "ray"}}), 422)
    assert "window of OcclusionExplainer must be" in _error(_explain(svc, {**ok, "parameters": {"window": [-1]}}), 422)
    assert "instances must be a non-empty list" in _error(_explain(svc, {**ok, "instances": []}), 422)
    assert "the limit is 3 (max_instances)" in _error(_explain(svc, {**ok, "instances": X[:4].tolist()}), 413)
    big = {**ok, "instances": [[0.123456789] * 4] * 3, "parameters": {"window": [1], "pad": "x" * 5000}}
    assert "over the limit of 4000 bytes (max_body_bytes)" in _error(_explain(svc, big), 413)
    lots = {"instances": X[:1].tolist(), "method": "kernelshap",
            "parameters": {"background": X[:50].tolist(), "n_samples": 100}}
    assert "more than the 500 model evaluations allowed" in _error(_explain(svc, lots), 422)
    assert _explain(svc, ok).status_code == 200  # and the service goes on


def test_a_token_guards_every_route_but_health(service):
    svc = service(token="s3cret-token")
    assert svc.client.get("/healthz").status_code == 200
    assert svc.client.get("/readyz").status_code == 200
    for path in ("/v1/models", "/metrics", "/openapi.json", "/v1/jobs", "/no/such/route"):
        response = svc.client.get(path)
        assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
        assert "a bearer token is required" in response.json()["error"]["message"]
    wrong = svc.client.get("/v1/models", headers={"Authorization": "Bearer s3cret-tokem"})
    assert "the bearer token is wrong" in _error(wrong, 401)
    assert "s3cret" not in wrong.text
    assert svc.client.get("/v1/models", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert "s3cret" not in repr(svc.app.state.service.config)
    metrics = svc.client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"}).text
    assert 'route="unmatched",method="GET",status="401"' in metrics and "/no/such/route" not in metrics


def test_a_model_server_that_is_down(service, iris):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = ModelEntry("down", f"http://127.0.0.1:{port}/v2/models/m", {"retries": 0, "timeout": 2})
    svc = service([down, ModelEntry("clf", iris[2])])
    message = _error(_explain(svc, {"instances": [[1.0, 2.0]], "method": "occlusion",
                                    "parameters": {"window": [1]}}, model="down"), 502)
    assert f"127.0.0.1:{port}" in message and "is the server running" in message
    ready = svc.client.get("/readyz")
    assert ready.status_code == 503 and "down" in ready.json()["models"]


def test_a_remote_model_is_explained_through_its_server(service, iris):
    clf, X, _ = iris
    with LoopbackServer(clf.predict_proba) as server:
        svc = service([ModelEntry("remote", server.url("v2"), {"output_kind": "probability"})])
        assert svc.client.get("/readyz").json() == {"ready": True}
        body = {"instances": X[:2].tolist(), "method": "sis", "parameters": {"threshold": 0.9,
                                                                              "masked_value": X.mean(0).tolist()}}
        answer = _explain(svc, body, model="remote").json()
    expected = SISExplainer(clf, 0.9, masked_value=X.mean(0)).explain_batch(X[:2])
    got = [result_from_json(d) for d in answer["explanations"]]
    assert [[s.indices.tolist() for s in c] for c in got] == [[s.indices.tolist() for s in c] for c in expected]


def _slow(seconds):
    def model(batch):
        time.sleep(seconds)
        return np.asarray(batch).sum(axis=1)
    return model


def test_a_request_past_its_time_gets_504_and_stops(service):
    svc = service([ModelEntry("slow", "unused")], loaded={"slow": _as_model(_slow(0.3))},
                  limits={"timeout_s": 1.0})
    body = {"instances": [[1.0] * 8], "method": "occlusion", "parameters": {"window": [1]}}
    start = time.monotonic()
    assert "took longer than timeout_s 1" in _error(_explain(svc, body, model="slow"), 504)
    assert time.monotonic() - start < 5


def _as_model(fn):
    return as_model(fn, batch_size=1)


def test_too_many_at_once_get_429_with_retry_after(service):
    release = threading.Event()
    started = threading.Event()

    def blocking(batch):
        started.set()
        release.wait(30)
        return np.asarray(batch).sum(axis=1)

    svc = service([ModelEntry("slow", "unused")], loaded={"slow": _as_model(blocking)},
                  limits={"max_concurrent": 1, "max_queued": 1})
    body = {"instances": [[1.0, 2.0]], "method": "occlusion", "parameters": {"window": [1]}}
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(_explain(svc, body, model="slow"))) for _ in range(2)]
    threads[0].start()
    assert started.wait(10)
    threads[1].start()
    deadline = time.monotonic() + 10
    while svc.app.state.service.waiting < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    refused = _explain(svc, body, model="slow")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "1 explanations running and 1 waiting" in refused.json()["error"]["message"]
    release.set()
    for t in threads:
        t.join(30)
    assert [a.status_code for a in answers] == [200, 200]


def test_models_metrics_and_schema(service, iris):
    svc = service()
    _explain(svc, {"instances": iris[1][:2].tolist(), "method": "occlusion", "parameters": {"window": [1]}})
    models = svc.client.get("/v1/models").json()["models"]
    assert models[0]["name"] == "clf" and models[0]["source"] == "clf.joblib" and models[0]["n_outputs"] == 3
    assert svc.client.get("/v1/models/clf").json() == models[0]
    text = svc.client.get("/metrics").text
    assert 'blackbox_xai_requests_total{route="/v1/models/{name}:explain",method="POST",status="200"} 1' in text
    assert 'blackbox_xai_model_evaluations_total{model="clf"} 10' in text  # 2 x (1 + 4 windows)
    assert 'blackbox_xai_explanations_total{model="clf",method="occlusion"} 2' in text
    assert "# TYPE blackbox_xai_request_duration_seconds histogram" in text
    schema = svc.client.get("/openapi.json").json()
    assert {"/v1/models/{name}:explain", "/v2/models/{name}/explain", "/v1/jobs", "/v1/jobs/{job_id}",
            "/v1/jobs/{job_id}/results", "/healthz", "/readyz", "/metrics"} <= set(schema["paths"])
    body = schema["paths"]["/v1/models/{name}:explain"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["method"]["enum"] == ["sis", "kernelshap", "lime", "occlusion"]


# -- jobs ------------------------------------------------------------------------------------------
def _npy(X):
    buffer = io.BytesIO()
    np.save(buffer, X)
    return buffer.getvalue()


def _submit(client, X, method="kernelshap", parameters=None, **fields):
    files = {"data": ("X.npy", _npy(X) if isinstance(X, np.ndarray) else X)}
    data = {"model": "clf", "method": method, "parameters": json.dumps(parameters or {}),
            **{k: str(v) for k, v in fields.items()}}
    return client.post("/v1/jobs", data=data, files=files)


def _wait(client, job_id, states=("done", "failed", "cancelled"), timeout=120, until=None):
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["state"] in states or (until and until(status)):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_a_job_runs_to_the_same_results_as_run_job(service, iris, tmp_path):
    clf, X, _ = iris
    svc = service()
    params = {"background": X[:10].tolist(), "n_samples": 64, "random_state": 0}
    response = _submit(svc.client, X[:30], parameters=params, shard_size=8)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    status = _wait(svc.client, job_id)
    assert status["state"] == "done" and status["done_rows"] == 30 and status["progress"] == 1.0
    local = run_job(clf, X[:30], {"method": "kernelshap", **params, "background": X[:10]}, tmp_path / "local",
                    shard_size=8, progress=False)
    assert local["complete"]
    lines = svc.client.get(f"/v1/jobs/{job_id}/results").text.splitlines()
    got = [result_from_json(json.loads(line)["explanation"]) for line in lines]
    assert [json.loads(line)["row"] for line in lines] == list(range(30))
    assert_same(got, load_results(tmp_path / "local"))
    table = __import__("pyarrow.parquet", fromlist=["x"]).read_table(
        io.BytesIO(svc.client.get(f"/v1/jobs/{job_id}/results", params={"format": "parquet"}).content))
    assert table.num_rows == 30 and table.column("row").to_pylist() == list(range(30))
    assert [j["id"] for j in svc.client.get("/v1/jobs").json()["jobs"]] == [job_id]


def test_a_job_from_parquet_with_failed_rows_recorded(service, iris):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    X = iris[1][[0, 1, 120, 121, 60, 2]]  # row 4 is of the class the masked input already has
    buffer = io.BytesIO()
    pq.write_table(pa.table({f"f{j}": X[:, j] for j in range(4)}), buffer)
    svc = service()
    job = _submit(svc.client, buffer.getvalue(), method="sis", parameters={"threshold": 0.5, "masked_value": [5.8, 3.0, 3.8, 1.2]},
                  on_error="record", shard_size=3).json()
    status = _wait(svc.client, job["id"])
    assert status["state"] == "done" and list(status["failed_rows"]) == ["4"]
    assert "InformativeMaskError" in status["failed_rows"]["4"]
    lines = [json.loads(line) for line in svc.client.get(f"/v1/jobs/{job['id']}/results").text.splitlines()]
    assert [line["row"] for line in lines] == list(range(6)) and "error" in lines[4]


def test_job_uploads_and_settings_are_checked(service, iris):
    svc = service(limits={"max_upload_bytes": 3000})
    X = iris[1]
    assert "neither a .npy array nor a Parquet file" in _error(_submit(svc.client, b"junk"), 422)
    assert "no model named 'other'" in _error(svc.client.post(
        "/v1/jobs", data={"model": "other", "method": "sis"}, files={"data": ("x.npy", _npy(X[:2]))}), 404)
    assert "method must be one of" in _error(_submit(svc.client, X[:2], method="shap"), 422)
    assert "n_samples of KernelShapExplainer must be" in _error(
        _submit(svc.client, X[:2], parameters={"background": X[:3].tolist(), "n_samples": -5}), 422)
    assert "over the limit of 3000 bytes (max_upload_bytes)" in _error(_submit(svc.client, X), 413)
    assert "no job 'nope'" in _error(svc.client.get("/v1/jobs/nope"), 404)


def test_a_job_is_cancelled_and_results_wait_for_the_end(service, iris):
    svc = service([ModelEntry("clf", iris[2])])
    X = np.repeat(iris[1], 4, axis=0)
    job = _submit(svc.client, X, parameters={"background": X[:50].tolist(), "n_samples": 2048},
                  shard_size=4).json()
    _wait(svc.client, job["id"], states=("running",))
    assert "ask for partial=true" in _error(svc.client.get(f"/v1/jobs/{job['id']}/results"), 409)
    cancelled = svc.client.delete(f"/v1/jobs/{job['id']}").json()
    assert cancelled["state"] == "cancelled" and cancelled["done_rows"] < len(X)
    assert "is cancelled; there is nothing to cancel" in _error(svc.client.delete(f"/v1/jobs/{job['id']}"), 409)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_service(model_path, jobs_dir, port):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "blackbox_xai", "serve", "--model", f"clf={model_path}",
                             "--jobs-dir", str(jobs_dir), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _wait_up(url, proc, limit=60):
    """Until the service's own /healthz answers 200 (a Ray Serve proxy answers before the app is up)."""
    deadline = time.monotonic() + limit
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _workers(jobs_dir):
    out = subprocess.run(["pgrep", "-f", f"blackbox_xai.service.job_worker {jobs_dir}"], capture_output=True,
                         text=True).stdout.split()
    return [int(p) for p in out]


def test_a_job_survives_a_killed_service_and_is_resumed(iris, tmp_path):
    clf, X, model_path = iris
    X = np.repeat(X, 2, axis=0)
    jobs_dir = tmp_path / "jobs"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    params = {"background": X[:40].tolist(), "n_samples": 1024, "random_state": 0}
    proc = _start_service(model_path, jobs_dir, port)
    try:
        _wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=60) as client:
            job_id = _submit(client, X, parameters=params, shard_size=10).json()["id"]
            part = _wait(client, job_id, until=lambda s: s["done_rows"] >= 20)
            assert part["state"] == "running" and part["done_rows"] < len(X)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _workers(jobs_dir):  # the worker dies with the service
            assert time.monotonic() < deadline, "the job's worker outlived the killed service"
            time.sleep(0.1)
        proc = _start_service(model_path, jobs_dir, port)
        _wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=60) as client:
            status = _wait(client, job_id, timeout=300)
            assert status["state"] == "done" and status["done_rows"] == len(X)
            lines = client.get(f"/v1/jobs/{job_id}/results").text.splitlines()
    finally:
        proc.kill()
        proc.wait(10)
    local = run_job(clf, X, {"method": "kernelshap", **params, "background": X[:40]}, tmp_path / "local",
                    shard_size=10, progress=False)
    assert local["complete"]
    got = [result_from_json(json.loads(line)["explanation"]) for line in lines]
    assert_same(got, load_results(tmp_path / "local"))


def test_the_same_app_on_ray_serve(iris, tmp_path):
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'ray[serve]')")
    clf, X, model_path = iris
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "blackbox_xai", "serve", "--ray", "--model", f"clf={model_path}",
                             "--jobs-dir", str(tmp_path / "jobs"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_up(url, proc, limit=180)
        with httpx.Client(base_url=url, timeout=60) as client:
            body = {"instances": X[[0, 120]].tolist(), "method": "kernelshap",
                    "parameters": {"background": X[:20].tolist(), "n_samples": 100, "random_state": 0}}
            answer = client.post("/v1/models/clf:explain", json=body).json()
            expected = KernelShapExplainer(clf, background=X[:20], n_samples=100, random_state=0).explain_batch(X[[0, 120]])
            assert_same([result_from_json(d) for d in answer["explanations"]], expected)
            assert "the limit is 256 (max_instances)" in _error(
                client.post("/v1/models/clf:explain", json={**body, "instances": X[:1].tolist() * 257}), 413)
            job = _submit(client, X[:12], method="occlusion", parameters={"window": [2]}, shard_size=4).json()
            assert _wait(client, job["id"])["state"] == "done"
            lines = client.get(f"/v1/jobs/{job['id']}/results").text.splitlines()
            local = OcclusionExplainer(clf, (2,)).explain_batch(X[:12])
            assert_same([result_from_json(json.loads(line)["explanation"]) for line in lines], local)
    finally:
        proc.send_signal(signal.SIGTERM)  # Serve and the Ray runtime it started stop with it
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]


def test_a_config_file_names_models_defaults_and_limits(iris, tmp_path):
    X = iris[1]
    np.save(tmp_path / "bg.npy", X[:10])
    (tmp_path / "service.json").write_text(json.dumps({
        "models": {"clf": {"source": iris[2],
                           "defaults": {"kernelshap": {"background": "bg.npy", "n_samples": 64, "random_state": 0}}},
                   "remote": {"source": "https://user:pa55word@127.0.0.1:9/v2/models/m",
                              "options": {"headers": {"X-Key": "k3y"}}}},
        "limits": {"max_instances": 5}}))
    config = load_config(tmp_path / "service.json", jobs_dir=str(tmp_path / "jobs"))
    assert config.limits.max_instances == 5
    np.testing.assert_array_equal(config.models["clf"].defaults["kernelshap"]["background"], X[:10])
    shown = repr(config) + repr(config.models["remote"])
    assert "pa55word" not in shown and "k3y" not in shown and "***" in shown
    svc = ServiceThread(create_app(config))
    try:  # the configured background is used when the request names none
        answer = _explain(svc, {"instances": X[:1].tolist(), "method": "kernelshap"}).json()
        expected = KernelShapExplainer(iris[0], background=X[:10], n_samples=64, random_state=0).explain(X[0])
        assert_same([result_from_json(answer["explanations"][0])], [expected])
        assert "pa55word" not in svc.client.get("/v1/models/remote").text
    finally:
        svc.close()
    for bad, message in [({"models": {}}, "no model to serve"), ({"modles": {}}, "unknown keys ['modles']"),
                         ({"models": {"m": {"source": "x.joblib"}}, "limits": {"timeout_s": 0}},
                          "limit timeout_s must be a positive number"),
                         ({"models": {"m": {"source": "x.joblib", "defaults": {"shap": {}}}}},
                          "defaults for unknown methods ['shap']")]:
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=re.escape(message)):
            load_config(tmp_path / "bad.json")


def test_the_serve_command_refuses_bad_settings_in_one_line(capsys, tmp_path):
    from blackbox_xai.cli import main

    assert main(["serve", "--model", "clf"]) == 2
    assert capsys.readouterr().err.strip() == "blackbox-xai: error: --model 'clf': expected NAME=PATH or NAME=URL"
    (tmp_path / "empty").write_text("")
    assert main(["serve", "--model", "m=x.joblib", "--token-file", str(tmp_path / "empty")]) == 2
    assert "is empty" in capsys.readouterr().err


def test_an_unexpected_failure_is_a_500_in_the_documented_form(service, iris):
    def broken(batch):
        raise MemoryError("no room")

    svc = service([ModelEntry("broken", "unused")], loaded={"broken": _as_model(broken)})
    body = {"instances": [[1.0, 2.0]], "method": "occlusion", "parameters": {"window": [1]}}
    answer = _explain(svc, body, model="broken").json()  # a model's failure is the instance's error
    assert "MemoryError: no room" in answer["explanations"][0]["error"]["message"]
    svc.app.state.service.models["broken"] = None  # the service itself fails
    assert _error(_explain(svc, body, model="broken"), 500).startswith("AttributeError")


def test_no_page_that_needs_the_internet(service):
    svc = service()
    assert svc.client.get("/docs").status_code == 404 and svc.client.get("/redoc").status_code == 404


def test_a_job_whose_model_cannot_be_loaded_fails_with_the_reason(iris, tmp_path):
    from blackbox_xai.service.jobs import JobManager

    broken = ModelEntry("clf", str(tmp_path / "missing.joblib"))  # the worker cannot load it
    manager = JobManager(tmp_path / "jobs", {"clf": broken}, poll_s=0.05)
    try:
        job_id = manager.submit("clf", "occlusion", {"window": [1]}, iris[1][:4])
        deadline = time.monotonic() + 60
        while manager.status(job_id)["state"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status = manager.status(job_id)
    finally:
        manager.close()
    assert status["state"] == "failed" and "missing.joblib: no such file" in status["error"]
    assert (tmp_path / "jobs" / job_id / "worker.log").exists()


def test_a_worker_that_dies_without_a_word_is_reported_with_its_log(tmp_path):
    from blackbox_xai.service.jobs import _last_line

    log = tmp_path / "worker.log"
    assert _last_line(log) is None
    log.write_text("starting\nFatal Python error: Segmentation fault\n\n")
    assert _last_line(log) == "Fatal Python error: Segmentation fault"
