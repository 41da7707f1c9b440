"""A scripted model server on 127.0.0.1 for the remote-adapter tests.

It speaks the three protocols :class:`~blackbox_xai.adapters.RemoteModel` knows (v2, MLflow, TF
Serving) around a local function, logs every request, and misbehaves on cue: ``faults`` is a list
consumed one per inference request (``None`` answers normally), so a test can say "drop the first
connection, then answer 503, then behave".
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

MODEL = "m"


class LoopbackServer:
    """``with LoopbackServer(fn) as server: server.url("v2")``.

    ``fn(batch) -> (B, K)``; ``faults``: list of None | "drop" | ("status", code, body,
    content_type[, headers]) | ("sleep", seconds) | ("rows", k) (answer only k rows).
    ``delay``: seconds every inference request takes (to observe concurrency). ``tls``: an
    ``ssl.SSLContext`` to serve https with. ``connections`` counts connections accepted.
    """

    def __init__(self, fn, faults=(), delay=0.0, output_name="predict_proba", ready=True, tls=None, model=MODEL):
        self.fn = fn
        self.faults = list(faults)
        self.delay = delay
        self.output_name = output_name
        self.ready = ready
        self.tls = tls  # an ssl.SSLContext to serve https with
        self.model = model  # the name it serves the model under
        self.connections = 0  # connections accepted
        self.log = []  # one dict per inference request: rows (array), outcome
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def url(self, protocol):
        base = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"
        return {"v2": f"{base}/v2/models/{self.model}", "mlflow": f"{base}/invocations",
                "tfserving": f"{base}/v1/models/{self.model}"}[protocol]

    def answered_rows(self):
        """Rows of every request that got a normal answer, in arrival order."""
        done = [r["rows"] for r in self.log if r["outcome"] == "ok"]
        return np.concatenate(done) if done else np.zeros((0,))

    def __enter__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code, body, content_type="application/json", headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if not server.ready:
                    self._send(404, {"error": f"Model {server.model} not found"})
                elif self.path in (f"/v2/models/{server.model}/ready", "/ping", f"/v1/models/{server.model}"):
                    self._send(200, {"model_version_status": [{"state": "AVAILABLE"}]})
                else:
                    self._send(404, {"error": f"no route {self.path}"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    fault = server.faults.pop(0) if server.faults else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body, fault)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body, fault):
                if self.path == f"/v2/models/{server.model}/infer":
                    spec = body["inputs"][0]
                    dtype = {"FP64": np.float64, "FP32": np.float32, "INT64": np.int64,
                             "BYTES": object}[spec["datatype"]]
                    rows = np.asarray(spec["data"], dtype=dtype).reshape(spec["shape"])
                elif self.path in ("/invocations", f"/v1/models/{server.model}:predict"):
                    rows = np.asarray(body.get("inputs", body.get("instances")))
                else:
                    return self._send(404, {"error": f"no route {self.path}"})
                entry = {"rows": rows, "outcome": "ok", "body": body, "headers": dict(self.headers)}
                server.log.append(entry)
                time.sleep(server.delay)
                if fault == "drop":
                    entry["outcome"] = "dropped"
                    self.close_connection = True
                    return self.connection.close()
                if fault and fault[0] == "sleep":
                    entry["outcome"] = "slept"
                    time.sleep(fault[1])
                    self.close_connection = True
                    return None
                if fault and fault[0] == "status":
                    entry["outcome"] = f"status {fault[1]}"
                    headers = fault[4] if len(fault) > 4 else ()
                    return self._send(fault[1], fault[2], fault[3], headers)
                out = np.asarray(server.fn(rows), dtype=np.float64)
                if fault and fault[0] == "rows":
                    entry["outcome"] = "short"
                    out = out[: fault[1]]
                if self.path.endswith("/infer"):
                    names = [o["name"] for o in body.get("outputs", [])] or [server.output_name]
                    outputs = [{"name": name, "shape": list(out.shape), "datatype": "FP64",
                                "data": out.ravel().tolist()} for name in names]
                    return self._send(200, {"model_name": server.model, "outputs": outputs})
                return self._send(200, {"predictions": out.tolist()})

        class Server(ThreadingHTTPServer):
            def get_request(self):
                sock, address = super().get_request()
                with server._lock:
                    server.connections += 1
                return sock, address

        self.httpd = Server(("127.0.0.1", 0), Handler)
        if self.tls is not None:  # the handshake happens in the handler's thread
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class ServiceThread:
    """An ASGI app (the explanation service) served by uvicorn in a thread of this process, on a
    free port of 127.0.0.1: ``url``, ``client`` (httpx), ``close()``."""

    def __init__(self, app):
        import socket

        import httpx
        import uvicorn

        self.app = app
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the service did not start"
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def close(self):
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)
