"""Models behind an HTTP endpoint: Open Inference Protocol v2, MLflow ``/invocations``, TF Serving.

Every engine chunk becomes as few requests as ``max_batch_rows`` allows (one HTTP call per
perturbation would be hopeless: ~1 ms each, server-bound, against ~4 ms for 1000 rows in one
request). Requests of one chunk go out in parallel, at most ``max_concurrency`` at a time per
model object (copies made for Ray workers or job shards split that budget, see ``for_copies``). Connection errors, timeouts, 429 and 5xx are retried with exponential backoff
and jitter; any other 4xx is raised at once with the server's message. Only the standard library
speaks HTTP here (``http.client``), with one keep-alive connection per thread, opened lazily, so
the model pickles to Ray workers and each worker opens its own.
"""
from __future__ import annotations

import base64
import http.client
import json
import random
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit, urlunsplit

import numpy as np

from blackbox_xai._validation import Boolean, Instance, Interval, Options, validate_init_args
from blackbox_xai.adapters.base import OUTPUT_KINDS, Model
from blackbox_xai.adapters.protocols import PROTOCOLS, Protocol, error_text, parse_url, v2_datatype
from blackbox_xai.exceptions import RemoteModelError

RETRY_STATUS = frozenset({429}) | frozenset(range(500, 600))
_MAX_DELAY = 10.0


def split_credentials(url: str):
    """``(url without credentials, the same with the password redacted, Basic authorization header
    value or None)`` of an endpoint URL: credentials in a URL are sent as HTTP Basic
    authentication and never shown."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, url, None
    host = parts.netloc.rpartition("@")[2]
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    redacted = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    return urlunsplit(parts._replace(netloc=host)), redacted, f"Basic {token}"


class RemoteModel(Model):
    """A model served over HTTP, behind the :class:`Model` contract.

    Parameters
    ----------
    url : str
        The endpoint. Full URLs name the protocol and model: ``http://h:8080/v2/models/m``
        (v2: KServe, MLServer, Triton), ``http://h:5000/invocations`` (MLflow),
        ``http://h:8501/v1/models/m`` (TF Serving). A bare ``http://h:p`` needs ``protocol``
        (and ``model_name`` for v2 and TF Serving).
    protocol : {"v2", "mlflow", "tfserving"}, optional
        Default: read off the URL.
    model_name, model_version : str, optional
        Default: read off the URL.
    output : str, optional
        Which output to explain when the server returns several (v2 output name, e.g.
        ``"predict_proba"``, also sent as the requested output; key of a dict of MLflow or TF
        Serving predictions). Default: the only output.
    input_name : str
        v2 input tensor name.
    dtype : numpy dtype, optional
        Cast inputs to this dtype before sending (e.g. ``"float32"`` for a model served in FP32).
        Default: send the batch's own dtype.
    columns : list of str, optional
        MLflow: send ``dataframe_split`` with these column names (for models with a column
        signature); default ``{"inputs": ...}``, a tensor.
    timeout : float
        Seconds per request (connect and read); a timeout is retried.
    retries : int
        Extra attempts after a connection error, timeout, 429 or 5xx.
    backoff : float
        First retry delay in seconds; each retry doubles it, with jitter (x0.5-1.5), at most 10 s.
        A ``Retry-After`` header in seconds is honoured within the same cap.
    max_batch_rows : int
        Rows per request; a larger batch is split.
    max_concurrency : int
        Requests in flight at once through this model object (the copies ``for_copies`` makes for
        Ray workers and job shards share it out).
    headers : dict, optional
        Sent with every request (e.g. ``{"Authorization": "Bearer ..."}``); never shown in reprs
        or errors. Credentials in the URL (``https://user:password@host/...``) are sent as HTTP
        Basic authentication, and shown with the password as ``***``.
    output_kind : {"probability", "logit", "score"}
        What the explained output is (the server cannot say).
    check_ready : bool
        Ask the server whether the model is ready before the first request.

    Only HTTP 200 is an answer. A redirect is an error that names where it points (the URL should
    name the model server itself), and so is any other status below 400 (202, 204, 206, 304: none
    carries a model's output). A TLS certificate that cannot be verified is final, not retried.

    Attributes
    ----------
    n_requests : int
        Inference requests answered, in this process.
    n_retries : int
        Requests sent again by this process, for whatever reason: after a connection error,
        timeout, 429 or 5xx, and on a new connection after the server closed a kept-alive one.
    """

    _parameter_constraints = {
        "protocol": [None, Options(*PROTOCOLS)],
        "model_name": [None, Instance("a string", str)],
        "model_version": [None, Instance("a string or an int", str, int)],
        "output": [None, Instance("a string", str)],
        "input_name": [Instance("a string", str)],
        "columns": [None, Instance("a list of column names", list, tuple)],
        "timeout": [Interval(float, 0, closed="neither")],
        "retries": [Interval(int, 0)],
        "backoff": [Interval(float, 0)],
        "max_batch_rows": [Interval(int, 1)],
        "max_concurrency": [Interval(int, 1)],
        "headers": [None, Instance("a dict", dict)],
        "output_kind": [Options(*OUTPUT_KINDS)],
        "check_ready": [Boolean()],
    }

    def __init__(self, url, protocol=None, *, model_name=None, model_version=None, output=None,
                 input_name="input-0", dtype=None, columns=None, timeout=30.0, retries=3,
                 backoff=0.1, max_batch_rows=1024, max_concurrency=4, headers=None,
                 output_kind="score", check_ready=True):
        validate_init_args(self, locals())
        url, shown, authorization = split_credentials(url)
        headers = dict(headers or {})
        if authorization is not None:
            if any(k.lower() == "authorization" for k in headers):
                raise ValueError(f"the URL {shown!r} holds credentials and headers holds an "
                                 "Authorization too: give one of them")
            headers["Authorization"] = authorization
        try:
            origin, prefix, url_protocol, url_name, url_version = parse_url(url)
        except ValueError as exc:
            raise ValueError(str(exc).replace(repr(url), repr(shown))) from None
        protocol = protocol or url_protocol
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"cannot tell the protocol of {shown!r}: pass protocol= one of {list(PROTOCOLS)} or a "
                "URL like http://host:port/v2/models/<name>, .../invocations or .../v1/models/<name>"
            )
        if url_protocol not in (None, protocol):
            raise ValueError(f"the URL {shown!r} is a {url_protocol} endpoint but protocol={protocol!r}")
        model_name = model_name or url_name
        if protocol in ("v2", "tfserving") and not model_name:
            raise ValueError(f"a {protocol} endpoint needs model_name= (or a URL that names the model)")
        if dtype is not None:
            v2_datatype(dtype)  # refuse dtypes no protocol can carry now, not at the first call
        super().__init__(shown, batch_size=int(max_batch_rows) * int(max_concurrency), device="remote")
        self.url = shown  # the password redacted; the credentials travel in headers
        self.origin = origin
        self.prefix = prefix
        self.protocol = protocol
        self.model_name = model_name
        self.model_version = model_version or url_version
        self.output = output
        self.input_name = input_name
        self.dtype = None if dtype is None else np.dtype(dtype)
        if self.dtype is not None and self.dtype.kind == "f":
            self.input_dtype = self.dtype  # the explainers build inputs in it; nothing to cast here
        self.columns = None if columns is None else [str(c) for c in columns]
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_batch_rows = int(max_batch_rows)
        self.max_concurrency = int(max_concurrency)
        self.headers = headers
        self.output_kind = output_kind
        self.check_ready = check_ready
        self._init_process_state()

    # -- per-process state: never pickled, rebuilt in each Ray worker ------------------------------
    @property
    def wire(self) -> Protocol:
        """This endpoint's :class:`~blackbox_xai.adapters.protocols.Protocol` (paths, bodies)."""
        return Protocol(self.protocol, self.prefix, self.model_name, self.model_version, self.input_name,
                        self.output, self.columns)

    def _init_process_state(self):
        self._local = threading.local()
        self._lock = threading.Lock()
        self._in_flight = threading.BoundedSemaphore(self.max_concurrency)  # this copy's share
        self._jitter = random.Random()  # backoff jitter, never the caller's global random state
        self._pool = None
        self._ready = not self.check_ready
        self.n_requests = 0
        self.n_retries = 0

    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_local", "_lock", "_in_flight", "_jitter", "_pool", "_ready", "n_requests", "n_retries"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_process_state()

    def for_copies(self, n: int):
        """A copy for one of ``n`` processes that call the server at once (Ray workers): each gets
        ``max_concurrency // n`` requests in flight (at least 1), so the server sees about
        ``max_concurrency`` in all."""
        share = max(1, self.max_concurrency // max(1, int(n)))
        if share == self.max_concurrency:
            return self
        clone = object.__new__(type(self))
        state = self.__getstate__()
        state["max_concurrency"] = share
        clone.__setstate__(state)
        clone.batch_size = self.max_batch_rows * share
        return clone

    # -- transport ----------------------------------------------------------------------------------
    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            parts = urlsplit(self.origin)
            cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            conn = cls(parts.hostname, parts.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
            self._local.used = False

    def _request(self, method, path, body=None, *, what):
        """``(status, headers, body)`` of one request, retried on connection errors, timeouts, 429
        and 5xx; other 4xx and the last failure raise :class:`RemoteModelError`."""
        payload = body
        headers = {"Accept": "application/json", **self.headers}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        last = None
        for attempt in range(self.retries + 1):
            if attempt:
                with self._lock:
                    self.n_retries += 1
                time.sleep(self._delay(attempt, last))
            try:
                with self._in_flight:
                    response, data = self._exchange(method, path, payload, headers)
            except ssl.SSLCertVerificationError as exc:  # the same certificate next time: final
                self._drop_connection()
                raise RemoteModelError(
                    f"model {self.name}: {what} failed: the server's TLS certificate could not be "
                    f"verified ({exc.verify_message or exc}); not retried. If the server's certificate "
                    "is signed by your own CA, point SSL_CERT_FILE at that CA's certificate"
                ) from exc
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, dropped, timed out
                self._drop_connection()
                kind = "timed out" if isinstance(exc, (socket.timeout, TimeoutError)) else "failed"
                last = (f"{what} {kind} ({type(exc).__name__}: {exc})", None)
                continue
            if response.status >= 400 or response.getheader("Connection", "").lower() == "close":
                self._drop_connection()  # servers often close after an error: start afresh
            if response.status == 200:
                return response.status, response, data
            if response.status < 400:
                raise RemoteModelError(f"model {self.name}: {self._not_an_answer(what, response)}",
                                       status=response.status)
            message = f"{what} got HTTP {response.status}: {error_text(data)}"
            if response.status not in RETRY_STATUS:
                raise RemoteModelError(f"model {self.name}: {message}", status=response.status)
            last = (message, response.getheader("Retry-After"))
        raise RemoteModelError(
            f"model {self.name}: {last[0]}; gave up after {self.retries + 1} attempt(s) "
            f"(timeout {self.timeout:g} s, retries={self.retries})"
        )

    @staticmethod
    def _not_an_answer(what, response) -> str:
        """Why a status below 400 other than 200 is not a model's output."""
        status, reason = response.status, response.reason
        if 300 <= status < 400 and response.getheader("Location"):
            return (f"{what} was redirected (HTTP {status} {reason}) to {response.getheader('Location')}; "
                    "redirects are not followed: give the model server's own URL")
        return (f"{what} got HTTP {status} {reason}, which carries no model output (only HTTP 200 "
                "does); is the URL the model server's own?")

    def _exchange(self, method, path, payload, headers):
        """One request and its answer. A kept-alive connection that the server closed while idle
        fails at once (reset, broken pipe, closed without an answer): that is resent once on a
        new connection, counted in ``n_retries`` but not against ``retries``."""
        for fresh in (False, True):
            conn = self._connection()
            reused = getattr(self._local, "used", False)
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self._drop_connection()
                if fresh or not reused:
                    raise
                with self._lock:
                    self.n_retries += 1
                continue
            self._local.used = True
            return response, data

    def _delay(self, attempt, last):
        delay = self.backoff * 2 ** (attempt - 1) * self._jitter.uniform(0.5, 1.5)
        retry_after = last[1] if last else None
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:  # an HTTP date: keep our own backoff
                pass
        return min(delay, _MAX_DELAY)

    def _wait_ready(self):
        if self._ready:
            return
        path = self.wire.path("ready")
        try:
            self._request("GET", path, what=f"readiness check GET {self.origin}{path}")
        except RemoteModelError as exc:
            if isinstance(exc.__cause__, ssl.SSLError) or (exc.status is not None and exc.status < 400):
                raise  # the server answered, or its certificate is wrong: the hint would mislead
            raise RemoteModelError(f"{exc} - is the server running and the model loaded?",
                                   status=exc.status) from None
        self._ready = True

    def ping(self, timeout=2.0):
        """Ask the server once, now, whether the model is ready (no retries, ``timeout`` seconds);
        raises :class:`~blackbox_xai.exceptions.RemoteModelError` saying why when it is not."""
        probe = object.__new__(type(self))
        probe.__setstate__({**self.__getstate__(), "timeout": float(timeout), "retries": 0, "check_ready": True})
        try:
            probe._wait_ready()
        finally:
            probe._drop_connection()

    def _send(self, batch):
        wire = self.wire
        path = wire.path("infer")
        status, _, data = self._request("POST", path, wire.encode(batch),
                                        what=f"POST {self.origin}{path} ({len(batch)} rows)")
        with self._lock:
            self.n_requests += 1
        try:
            doc = json.loads(data)
        except ValueError:
            raise RemoteModelError(
                f"model {self.name} answered HTTP {status} with a body that is not JSON: {error_text(data)}"
            ) from None
        try:
            out = wire.decode(doc)
        except RemoteModelError as exc:
            raise RemoteModelError(f"model {self.name} {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:  # e.g. data that does not fill its shape
            raise RemoteModelError(
                f"model {self.name} answered in a form the {self.protocol} protocol does not allow "
                f"({type(exc).__name__}: {exc}): {str(doc)[:300]}"
            ) from None
        if out.ndim == 0 or out.shape[0] != len(batch):
            raise RemoteModelError(
                f"model {self.name} returned {out.shape[0] if out.ndim else 'a scalar'} row(s) for a "
                f"request of {len(batch)} rows (output shape {out.shape})"
            )
        return out.reshape(len(batch), -1) if out.ndim > 2 else out

    def _predict(self, batch):
        self._wait_ready()
        if self.dtype is not None:
            batch = batch.astype(self.dtype, copy=False)
        parts = [batch[a:a + self.max_batch_rows] for a in range(0, len(batch), self.max_batch_rows)]
        if len(parts) <= 1 or self.max_concurrency == 1:
            outs = [self._send(p) for p in parts]
        else:
            if self._pool is None:
                with self._lock:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="remote-model")
            outs = list(self._pool.map(self._send, parts))  # in order: no row lost or moved
        if not outs:
            return np.zeros((0, self.n_outputs or 1))
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def __repr__(self):
        return (f"RemoteModel({self.url!r}, protocol={self.protocol!r}, max_batch_rows="
                f"{self.max_batch_rows}, max_concurrency={self.max_concurrency})")
