"""Real model servers for the tests: MLServer (Open Inference Protocol v2) and MLflow, each in a
virtualenv of its own (their pins clash with ours: MLServer wants fastapi<0.116 and protobuf<7),
started as subprocesses on 127.0.0.1.

The virtualenvs are built from the package registry once and cached under
``$BLACKBOX_XAI_SERVER_VENVS`` (default ``~/.cache/blackbox-xai/server-venvs``), keyed by what
they hold. ``.ci/run`` builds them before the tests:

    python tests/model_servers.py            # provision every server
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import sklearn

# scikit-learn must match the tests' own: the servers load models the tests pickle
SERVERS = {
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", f"scikit-learn=={sklearn.__version__}"],
    "mlflow": ["mlflow==3.17.2", f"scikit-learn=={sklearn.__version__}"],
}


def venv_root() -> str:
    return os.environ.get("BLACKBOX_XAI_SERVER_VENVS") or os.path.join(
        os.path.expanduser("~"), ".cache", "blackbox-xai", "server-venvs")


def venv_path(name: str) -> str:
    key = hashlib.sha1("\n".join([sys.version, *SERVERS[name]]).encode()).hexdigest()[:10]
    return os.path.join(venv_root(), f"{name}-{key}")


def provision(name: str) -> str:
    """The bin/ folder of the server's virtualenv, built first if missing (pip, from the registry)."""
    path = venv_path(name)
    done = os.path.join(path, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(path, ignore_errors=True)  # a half-built one from an interrupted run
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        pip = [os.path.join(path, "bin", "python"), "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check", *SERVERS[name]]
        result = subprocess.run(pip, capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"installing {name} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        open(done, "w").close()
    return os.path.join(path, "bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess: waits until ``ready_url`` answers 200, stops the whole process group."""

    def __init__(self, cmd, cwd, ready_url, bin_dir, log_path, timeout=90.0):
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
        env.pop("PYTHONPATH", None)  # the server's venv must not see the tests' packages
        self.log_path = log_path
        self.log = open(log_path, "w")
        start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        while True:
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.perf_counter() - start > timeout:
                self.stop()
                with open(log_path) as fh:
                    tail = fh.read()[-3000:]
                raise RuntimeError(f"{cmd[0]} did not become ready at {ready_url}:\n{tail}")
            time.sleep(0.2)
        self.startup_s = time.perf_counter() - start

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        self.log.close()


def start_mlserver(model_file: str, workdir: str, name: str = "m",
                   predict_fn: str = "predict_proba") -> tuple[str, ServerProcess]:
    """Serve a joblib-saved sklearn model with MLServer; returns (v2 model URL, process)."""
    bin_dir = provision("mlserver")
    port, grpc, metrics = free_port(), free_port(), free_port()
    os.makedirs(os.path.join(workdir, name), exist_ok=True)
    shutil.copy(model_file, os.path.join(workdir, name, "model.joblib"))
    with open(os.path.join(workdir, "settings.json"), "w") as fh:
        json.dump({"host": "127.0.0.1", "http_port": port, "grpc_port": grpc, "metrics_port": metrics,
                   "parallel_workers": 0}, fh)
    with open(os.path.join(workdir, name, "model-settings.json"), "w") as fh:
        json.dump({"name": name, "implementation": "mlserver_sklearn.SKLearnModel",
                   "parameters": {"uri": "./model.joblib", "extra": {"predict_fn": predict_fn}}}, fh)
    url = f"http://127.0.0.1:{port}/v2/models/{name}"
    proc = ServerProcess([os.path.join(bin_dir, "mlserver"), "start", "."], workdir, url + "/ready",
                         bin_dir, os.path.join(workdir, "mlserver.log"))
    return url, proc


def start_mlflow(model_file: str, workdir: str, predict_fn: str = "predict_proba") -> tuple[str, ServerProcess]:
    """Save a joblib-saved sklearn model as an MLflow model (with the server's own mlflow) and
    serve it with ``mlflow models serve --env-manager local``; returns (URL, process)."""
    bin_dir = provision("mlflow")
    model_dir = os.path.join(workdir, "mlflow-model")
    shutil.rmtree(model_dir, ignore_errors=True)
    save = ("import joblib, sys, mlflow.sklearn; mlflow.sklearn.save_model(joblib.load(sys.argv[1]), "
            "sys.argv[2], pyfunc_predict_fn=sys.argv[3])")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    subprocess.run([os.path.join(bin_dir, "python"), "-c", save, model_file, model_dir, predict_fn],
                   check=True, capture_output=True, env=env)
    port = free_port()
    cmd = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", model_dir, "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    proc = ServerProcess(cmd, workdir, f"http://127.0.0.1:{port}/ping", bin_dir,
                         os.path.join(workdir, "mlflow.log"))
    return f"http://127.0.0.1:{port}/invocations", proc


if __name__ == "__main__":
    for server in sys.argv[1:] or sorted(SERVERS):
        start = time.perf_counter()
        print(f"{server}: {provision(server)} ({time.perf_counter() - start:.0f} s)", flush=True)
