"""The explanation service as an ASGI app (FastAPI): :func:`create_app`.

Routes (all JSON; errors are ``{"error": {"status": ..., "message": ...}}``):

=============================================  ==================================================
``POST /v1/models/{name}:explain``             explain instances (KServe's v1 explain route)
``POST /v2/models/{name}/explain``             the same, Open Inference Protocol style
``GET  /v1/models``, ``/v1/models/{name}``     the configured models
``POST /v1/jobs``                              a dataset job (multipart: data.npy or .parquet)
``GET  /v1/jobs``, ``/v1/jobs/{id}``           jobs, and one job's state and progress
``GET  /v1/jobs/{id}/results``                 JSON lines (default) or ``?format=parquet``
``DELETE /v1/jobs/{id}``                       cancel a job
``GET  /healthz``, ``/readyz``                 alive; ready (every remote model answers)
``GET  /metrics``                              Prometheus text format
``GET  /openapi.json``                         the API schema
=============================================  ==================================================

Status codes: 400 malformed JSON; 401 missing or wrong bearer token; 404 unknown model, job or
route; 409 a job's results before it is done; 413 a body or upload over its limit, too many
instances; 422 an unknown method or parameter, a wrong value, more model evaluations than
allowed; 429 too many explanations at once (with ``Retry-After``); 502 the model server failed;
504 the request's time is up.
"""
import asyncio
import hmac
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from blackbox_xai import __version__
from blackbox_xai.service.config import METHODS
from blackbox_xai.service.explain import RequestError, deadline_in, explain_request
from blackbox_xai.service.jobs import JobManager
from blackbox_xai.service.metrics import Metrics

OPEN_ROUTES = ("/healthz", "/readyz")

def _body(media_type, required, **properties):
    """An OpenAPI request body: an object of ``properties`` sent as ``media_type``."""
    schema = {"type": "object", "required": list(required), "properties": properties}
    return {"required": True, "content": {media_type: {"schema": schema}}}


_EXPLAIN_BODY = _body(
    "application/json", ["instances", "method"],
    instances={"type": "array", "description": "inputs: nested lists of numbers (strings for text LIME)"},
    method={"type": "string", "enum": list(METHODS)},
    parameters={"type": "object", "description": "the explainer's parameters (e.g. threshold, n_samples)"})
_V2_BODY = _body(
    "application/json", ["inputs", "parameters"],
    inputs={"type": "array", "description": "one tensor: {name, shape, datatype, data}; rows on axis 0"},
    parameters={"type": "object", "description": "method and the explainer's parameters"})
_JOB_BODY = _body(
    "multipart/form-data", ["model", "method", "data"],
    model={"type": "string"}, method={"type": "string", "enum": list(METHODS)},
    parameters={"type": "string", "description": "JSON object of the explainer's parameters"},
    shard_size={"type": "integer", "default": 64},
    on_error={"type": "string", "enum": ["raise", "record"], "default": "raise"},
    data={"type": "string", "format": "binary", "description": "rows: .npy, or Parquet (numeric columns)"})


class _Guard:
    """ASGI middleware: the bearer token, body-size limits, and the request metrics."""

    def __init__(self, app, service):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        service = self.service
        start = time.perf_counter()
        status = {}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self._checked(scope, receive, send_and_note)
        finally:
            # a route's template, never the raw path: clients must not choose the metrics' labels
            path = getattr(scope.get("route"), "path", None) or "unmatched"
            service.metrics.observe(path, scope["method"], status.get("code", 500), time.perf_counter() - start)

    async def _checked(self, scope, receive, send):
        service = self.service
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if service.config.token and scope["path"] not in OPEN_ROUTES:
            given = headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), service.config.token.encode()):
                why = "a bearer token is required" if not given else "the bearer token is wrong"
                return await _send_error(send, 401, f"{why} (Authorization: Bearer <token>)",
                                         {"WWW-Authenticate": "Bearer"})
        name = "max_upload_bytes" if scope["path"].rstrip("/") == "/v1/jobs" else "max_body_bytes"
        limit = getattr(service.config.limits, name)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _send_error(send, 413, f"the request body has {int(declared)} bytes, over the limit of {limit} bytes ({name})")
        # read the body within the limit, then hand it on
        chunks, size = [], 0
        more = scope["method"] in ("POST", "PUT", "PATCH")
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _send_error(send, 413, f"the request body is over the limit of {limit} bytes ({name})")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _send_error(send, status, message, headers=None):
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class Service:
    """What the routes share: the configuration, the loaded models, the slots for explanations,
    the job manager, the metrics."""

    def __init__(self, config, models=None, *, job_workers=None):
        self.config = config
        self.models = models if models is not None else {name: e.load() for name, e in config.models.items()}
        self.metrics = Metrics()
        limits = config.limits
        self.pool = ThreadPoolExecutor(int(limits.max_concurrent), thread_name_prefix="explain")
        self.running = 0
        self.waiting = 0
        self._slots = None
        self.job_workers = job_workers
        self.jobs = None

    def start(self):
        self.jobs = JobManager(self.config.jobs_dir, self.config.models,
                               max_running=int(self.config.limits.max_running_jobs), workers=self.job_workers)

    def stop(self):
        if self.jobs is not None:
            self.jobs.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def entry(self, name):
        if name not in self.config.models:
            raise RequestError(404, f"no model named {name!r}; this service has {sorted(self.config.models)}")
        return self.config.models[name]

    async def explain(self, name, body):
        """Explain within the limits: a slot (or 429), the deadline (504)."""
        entry = self.entry(name)
        limits = self.config.limits
        if self._slots is None:
            self._slots = asyncio.Semaphore(int(limits.max_concurrent))
        if self._slots.locked() and self.waiting >= limits.max_queued:
            raise RequestError(429, f"{self.running} explanations running and {self.waiting} waiting "
                               f"(max_concurrent {limits.max_concurrent}, max_queued {limits.max_queued}); "
                               "try again shortly", {"Retry-After": "1"})
        deadline = deadline_in(limits.timeout_s)
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), limits.timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(504, f"no slot for the explanation within timeout_s {limits.timeout_s:g}") from None
        finally:
            self.waiting -= 1
        self.running += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, explain_request, entry, self.models[name], body, limits, deadline)

        def release(_):  # the slot is free when the work stops, not when the client stops waiting
            self.running -= 1
            self._slots.release()

        future.add_done_callback(lambda f: loop.call_soon_threadsafe(release, f))
        try:
            answer = await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            raise RequestError(504, f"the explanation took longer than timeout_s {limits.timeout_s:g}; it "
                               "stops at its next model call") from None
        n = sum(1 for e in answer["explanations"] if "error" not in e)
        self.metrics.explained(name, answer["method"], n, answer["n_evaluations"])
        return answer

    def describe(self, name) -> dict:
        entry = self.entry(name)
        model = self.models[name]
        source = getattr(model, "url", None) if entry.is_remote() else entry.source.rsplit("/", 1)[-1]
        return {"name": name, "kind": "remote" if entry.is_remote() else "local", "source": source,
                "adapter": type(model).__name__, "output_kind": model.output_kind, "n_outputs": model.n_outputs,
                "methods": list(METHODS),
                "defaults": {m: sorted(p) for m, p in entry.defaults.items()}}

    def readiness(self) -> dict:
        problems = {}
        for name, entry in self.config.models.items():
            if entry.is_remote():
                try:
                    self.models[name].ping()
                except Exception as exc:  # noqa: BLE001 - any failure means not ready
                    problems[name] = str(exc)
        return problems

    def gauges(self) -> dict:
        jobs = self.jobs.counts() if self.jobs is not None else {}
        return {"blackbox_xai_explanations_running": ("Explanations being computed.", {(): self.running}),
                "blackbox_xai_explanations_waiting": ("Explanations waiting for a slot.", {(): self.waiting}),
                "blackbox_xai_jobs": ("Dataset jobs by state.", {(("state", s),): n for s, n in jobs.items()})}


def _read_rows(data: bytes, name: str):
    """Rows of an upload: a ``.npy`` array, or a Parquet table of numeric columns (or one column
    of equal-length lists)."""
    if data.startswith(b"\x93NUMPY"):
        try:
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise RequestError(422, f"{name}: cannot read the .npy upload ({exc})") from None
    if data.startswith(b"PAR1"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise RequestError(422, f"{name}: Parquet uploads need pyarrow on the server") from None
        try:
            table = pq.read_table(io.BytesIO(data))
            columns = [np.asarray(c.to_pylist(), dtype=float) for c in table.columns]
        except Exception as exc:  # noqa: BLE001 - a damaged or non-numeric table
            raise RequestError(422, f"{name}: cannot read the Parquet upload as numbers ({exc})") from None
        if len(columns) == 1 and columns[0].ndim > 1:
            return columns[0]
        return np.stack(columns, axis=1)
    raise RequestError(422, f"{name}: the upload is neither a .npy array nor a Parquet file")


def create_app(config, *, models=None, job_workers=None):
    """The service's ASGI app for ``config`` (:func:`~blackbox_xai.service.load_config`).
    ``models``: already loaded models by name (default: load each configured source)."""
    service = Service(config, models, job_workers=job_workers)

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    # no /docs or /redoc: their pages load scripts from a CDN, which a service beside a model
    # server often cannot reach; /openapi.json is the schema for any viewer
    app = FastAPI(title="blackbox-xai", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Explanations of the configured models over HTTP: SIS, KernelSHAP, LIME, occlusion.")
    app.state.service = service
    app.add_middleware(_Guard, service=service)

    @app.exception_handler(RequestError)
    async def request_error(request, exc):
        return JSONResponse({"error": {"status": exc.status, "message": exc.message}}, exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):
        return JSONResponse({"error": {"status": exc.status_code, "message": str(exc.detail)}}, exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request, exc):  # still the documented form, never a traceback
        return JSONResponse({"error": {"status": 500, "message": " ".join(f"{type(exc).__name__}: {exc}".split())}},
                            500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": {"status": 422, "message": where}}, 422)

    async def json_body(request):
        raw = await request.body()
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise RequestError(400, f"the request body is not valid JSON ({exc})") from None

    @app.post("/v1/models/{name}:explain", openapi_extra={"requestBody": _EXPLAIN_BODY}, tags=["explain"])
    async def explain(name: str, request: Request):
        """Explain ``instances`` with ``method``; one explanation (or error object) per instance."""
        return await service.explain(name, await json_body(request))

    @app.post("/v2/models/{name}/explain", openapi_extra={"requestBody": _V2_BODY}, tags=["explain"])
    async def explain_v2(name: str, request: Request):
        """The same in the Open Inference Protocol's shape: one input tensor (rows on axis 0),
        ``parameters.method``; the answer is one BYTES output of JSON explanations."""
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or len(body["inputs"]) != 1:
            raise RequestError(422, "inputs must hold exactly one tensor {name, shape, datatype, data}")
        tensor = body["inputs"][0]
        try:
            rows = np.asarray(tensor["data"], dtype=float).reshape(tensor["shape"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RequestError(422, f"the input tensor cannot be read ({type(exc).__name__}: {exc})") from None
        parameters = dict(body.get("parameters") or {})
        method = parameters.pop("method", None)
        answer = await service.explain(name, {"instances": list(rows), "method": method, "parameters": parameters})
        docs = [json.dumps(e) for e in answer["explanations"]]
        return {"model_name": name, "id": body.get("id"), "parameters": {"n_evaluations": answer["n_evaluations"]},
                "outputs": [{"name": "explanations", "datatype": "BYTES", "shape": [len(docs)], "data": docs}]}

    @app.get("/v1/models", tags=["models"])
    async def models_list():
        return {"models": [service.describe(n) for n in sorted(config.models)]}

    @app.get("/v1/models/{name}", tags=["models"])
    async def model_info(name: str):
        return service.describe(name)

    @app.post("/v1/jobs", openapi_extra={"requestBody": _JOB_BODY}, status_code=202, tags=["jobs"])
    async def submit_job(request: Request):
        """Explain every row of an uploaded dataset as a job; answers its id at once."""
        try:
            form = await request.form()
        except Exception as exc:  # noqa: BLE001 - not multipart, or a broken one
            raise RequestError(400, f"a job is a multipart/form-data upload ({type(exc).__name__}: {exc})") from None
        upload = form.get("data")
        if upload is None or not hasattr(upload, "read"):
            raise RequestError(422, "the form needs a file field 'data' (.npy or Parquet)")
        rows = _read_rows(await upload.read(), upload.filename or "data")
        try:
            parameters = json.loads(form.get("parameters") or "{}")
            shard_size = int(form.get("shard_size") or 64)
        except ValueError as exc:
            raise RequestError(422, f"parameters must be a JSON object and shard_size an integer ({exc})") from None
        job_id = await asyncio.to_thread(service.jobs.submit, form.get("model"), form.get("method"), parameters,
                                         rows, shard_size=shard_size, on_error=form.get("on_error") or "raise")
        return await asyncio.to_thread(service.jobs.status, job_id)

    @app.get("/v1/jobs", tags=["jobs"])
    async def jobs_list():
        return {"jobs": await asyncio.to_thread(lambda: [service.jobs.status(j) for j in service.jobs.ids()])}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job(job_id: str):
        return await asyncio.to_thread(service.jobs.status, job_id)

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    async def cancel_job(job_id: str):
        return await asyncio.to_thread(service.jobs.cancel, job_id)

    @app.get("/v1/jobs/{job_id}/results", tags=["jobs"])
    async def job_results(job_id: str, format: str = "jsonl", partial: bool = False):
        """Every row: JSON lines ``{"row": i, "explanation": ...}`` or ``{"row": i, "error": ...}``
        (rows not done yet are left out), or the results table as Parquet."""
        if format == "parquet":
            table = await asyncio.to_thread(service.jobs.table, job_id, partial=partial)
            import pyarrow.parquet as pq

            buffer = io.BytesIO()
            pq.write_table(table, buffer)
            return Response(buffer.getvalue(), media_type="application/vnd.apache.parquet")
        if format != "jsonl":
            raise RequestError(422, f"format must be 'jsonl' or 'parquet', got {format!r}")
        rows, failed = await asyncio.to_thread(service.jobs.results, job_id, partial=partial)

        def lines():
            for i, result in enumerate(rows):
                if result is not None:
                    yield json.dumps({"row": i, "explanation": result.to_json()}) + "\n"
                elif i in failed:
                    yield json.dumps({"row": i, "error": failed[i]}) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/healthz", tags=["health"])
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz():
        problems = await asyncio.to_thread(service.readiness)
        if problems:
            return JSONResponse({"ready": False, "models": problems}, 503)
        return {"ready": True}

    @app.get("/metrics", tags=["health"])
    async def metrics():
        return PlainTextResponse(service.metrics.render(service.gauges()), media_type="text/plain; version=0.0.4")

    return app
