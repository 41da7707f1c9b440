"""A real two-node Ray cluster on loopback: ``ray start --head`` and a second ``ray start`` node with
a resource of its own, a dataset job run by a driver that finds the cluster through RAY_ADDRESS
(started by hand, or by ``ray job submit``), both nodes doing work, and the second node killed
mid-job: every row exactly once, equal to a serial run."""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from blackbox_xai.jobs import job_status, load_results, run_job
from helpers import total

pytestmark = pytest.mark.skipif(shutil.which("ray") is None, reason="needs the ray command (ray's CLI)")

X = np.random.default_rng(8).random((24, 5))
SPEC = {"method": "occlusion", "window": 2}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """``ray start --block`` in a process group of its own, so it can be killed alone."""

    def __init__(self, args, env, log):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(["ray", "start", "--block", "--disable-usage-stats", *args], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


@pytest.fixture()
def cluster(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env.pop("RAY_ADDRESS", None)
    port, dashboard = _free_port(), _free_port()
    # a temp dir of its own (short: it holds unix sockets), so a killed head leaves no address
    # behind for later ray.init calls
    temp = tempfile.mkdtemp(prefix="bbx-ray-", dir="/tmp")
    # the dashboard (on 127.0.0.1) takes `ray job submit`
    head = Node(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                 f"--dashboard-port={dashboard}", f"--temp-dir={temp}"], env, tmp_path / "head.log")
    nodes = [head]
    try:
        address = f"127.0.0.1:{port}"
        probe = "import ray, sys; ray.init(logging_level='ERROR'); sys.exit(len(ray.nodes()) < int(sys.argv[1]))"
        _wait(lambda: subprocess.run([sys.executable, "-c", probe, "1"], env={**env, "RAY_ADDRESS": address},
                                     capture_output=True).returncode == 0, "the head node", head)
        second = Node([f"--address={address}", "--num-cpus=1", '--resources={"second": 1}'], env,
                      tmp_path / "second.log")
        nodes.append(second)
        _wait(lambda: subprocess.run([sys.executable, "-c", probe, "2"], env={**env, "RAY_ADDRESS": address},
                                     capture_output=True).returncode == 0, "the second node", second)
        yield {"env": {**env, "RAY_ADDRESS": address}, "second": second, "env_without_address": env,
               "dashboard": f"http://127.0.0.1:{dashboard}"}
    finally:
        for node in reversed(nodes):
            node.kill()
        shutil.rmtree(temp, ignore_errors=True)


def _wait(ready, what, node=None, limit=120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ready():
            return
        if node is not None and node.proc.poll() is not None:
            pytest.fail(f"{what} exited with code {node.proc.returncode}; see {node.log.name}")
        time.sleep(1)
    pytest.fail(f"{what} did not come up within {limit} s")


def _driver(tmp_path, delay):
    """A driver script: run_job with executor=None (so RAY_ADDRESS decides), its model marking
    which node each call ran on."""
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "calls").mkdir(exist_ok=True)
    return textwrap.dedent(f"""
        import os, time, numpy as np, ray
        from blackbox_xai.jobs import run_job

        def model(batch):
            node = ray.get_runtime_context().get_node_id()
            open(os.path.join({str(tmp_path / 'calls')!r}, f"{{node}}-{{os.getpid()}}-{{time.monotonic_ns()}}"), "w").close()
            time.sleep({delay})
            return batch.reshape(len(batch), -1).sum(axis=1)

        status = run_job(model, np.load({str(tmp_path / 'X.npy')!r}), {SPEC!r}, {str(tmp_path / 'job')!r},
                         shard_size=1, retries=3, progress=False)
        print("complete" if status["complete"] else "incomplete", flush=True)
    """)


def _nodes_used(tmp_path):
    return {name.split("-")[0] for name in os.listdir(tmp_path / "calls")}


def _assert_every_row_once_as_serial(tmp_path):
    serial = run_job(total, X, SPEC, tmp_path / "serial", shard_size=1, executor="serial", progress=False)
    assert serial["complete"] and job_status(tmp_path / "job")["complete"]
    got, want = load_results(tmp_path / "job"), load_results(tmp_path / "serial")
    assert len(got) == len(want) == len(X)
    for g, w, x in zip(got, want, X):
        np.testing.assert_array_equal(g.x, x)
        np.testing.assert_array_equal(g.values, w.values)


def test_a_job_on_a_two_node_cluster_uses_both_nodes(cluster, tmp_path):
    result = subprocess.run([sys.executable, "-c", _driver(tmp_path, 0.2)], env=cluster["env"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "complete" in result.stdout, result.stderr[-2000:]
    assert len(_nodes_used(tmp_path)) == 2  # the head and the second node both explained shards
    _assert_every_row_once_as_serial(tmp_path)


def test_losing_a_node_mid_job_loses_and_duplicates_no_row(cluster, tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", _driver(tmp_path, 0.5)], env=cluster["env"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: len(_nodes_used(tmp_path)) == 2 or driver.poll() is not None, "work on both nodes")
        assert driver.poll() is None, "the job ended before the node could be lost"
        done_before = len(os.listdir(tmp_path / "job" / "shards"))
        cluster["second"].kill()  # SIGKILL to the node's raylet and workers
        out, err = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0 and "complete" in out, err[-2000:]
    assert done_before < len(X)  # the node was lost mid-job
    _assert_every_row_once_as_serial(tmp_path)


def test_a_job_submitted_with_ray_job_submit(cluster, tmp_path):
    if shutil.which("ray") is None or subprocess.run(["ray", "job", "--help"], capture_output=True).returncode:
        pytest.skip("`ray job` needs ray[default] (the dashboard)")
    (tmp_path / "driver.py").write_text(_driver(tmp_path, 0.2))
    deadline = time.monotonic() + 120
    while True:  # the head's job agent registers some time after the cluster takes work
        result = subprocess.run(["ray", "job", "submit", "--address", cluster["dashboard"], "--",
                                 sys.executable, str(tmp_path / "driver.py")], env=cluster["env_without_address"],
                                capture_output=True, text=True, timeout=600)
        if "No available agent to submit job" not in result.stderr + result.stdout or time.monotonic() > deadline:
            break
        time.sleep(2)  # Ray's own advice: "please try again later"; no job was created
    assert result.returncode == 0 and "complete" in result.stdout and "succeeded" in result.stdout, \
        (result.stdout + result.stderr)[-3000:]
    assert len(_nodes_used(tmp_path)) == 2  # the submitted driver found the cluster by itself
    _assert_every_row_once_as_serial(tmp_path)
