"""Dataset jobs of the service: each in a folder of its own under ``jobs_dir``, run by a worker
process (:mod:`blackbox_xai.service.job_worker`) through the library's job runner, so a job is
resumable, verified shard by shard, and survives a restart of the service.

Layout of ``jobs_dir/<job id>/``::

    request.json   model name, method, parameters, shard size, on_error, rows, created
    rows.npy       the rows to explain
    out/           the job folder of :func:`blackbox_xai.run_job`
    worker.pid     the process running it, while it runs
    worker.log     what its worker processes wrote on stderr (Ray's and the model's messages)
    state.json     written when the job ends: done, failed (with the error) or cancelled

A job without ``state.json`` is not finished: a (re)started service queues it, and its worker
resumes from the shards already done. Several services (Ray Serve replicas) may share one
``jobs_dir``: each takes submissions and answers for every job, and one at a time (the holder of
``jobs_dir/runner.lock``) runs them.
"""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import numpy as np

from blackbox_xai.jobs import job_status, load_results, load_table
from blackbox_xai.result_files import array_to_json
from blackbox_xai.service.explain import RequestError, build_explainer

FINAL = ("done", "failed", "cancelled")


class JobManager:
    """Runs the service's jobs, at most ``max_running`` at once, in submission order."""

    def __init__(self, jobs_dir, models, *, max_running=1, workers=None, poll_s=0.2):
        self.jobs_dir = os.path.abspath(jobs_dir)
        os.makedirs(self.jobs_dir, exist_ok=True)
        self.models = models          # name -> ModelEntry
        self.max_running = max_running
        self.workers = workers        # Ray workers per job (None: serial, or RAY_ADDRESS)
        self.poll_s = poll_s
        self._procs = {}              # job id -> (Popen, started, rows done at start)
        self._runner = None           # the open runner.lock while this manager runs jobs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="blackbox-xai-jobs", daemon=True)
        self._thread.start()

    # -- submitting and reading ------------------------------------------------------------------
    def submit(self, model, method, parameters, rows, *, shard_size=64, on_error="raise") -> str:
        if not isinstance(model, str) or not isinstance(method, str):
            raise RequestError(422, "a job needs the fields model and method")
        if model not in self.models:
            raise RequestError(404, f"no model named {model!r}; this service has {sorted(self.models)}")
        _, params = build_explainer(method, parameters, self.models[model].defaults, None)  # a wrong value: 422 now
        if on_error not in ("raise", "record"):
            raise RequestError(422, f"on_error must be 'raise' or 'record', got {on_error!r}")
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise RequestError(422, f"shard_size must be a positive integer, got {shard_size!r}")
        if len(rows) == 0:
            raise RequestError(422, "the uploaded data has no rows")
        job_id = uuid.uuid4().hex[:16]
        folder = os.path.join(self.jobs_dir, job_id)
        os.makedirs(folder)
        np.save(os.path.join(folder, "rows.npy"), rows, allow_pickle=False)
        request = {"id": job_id, "model": model, "method": method, "shard_size": shard_size, "on_error": on_error,
                   "n_rows": len(rows), "created": time.time(),
                   "parameters": {k: array_to_json(np.asarray(v)) if isinstance(v, np.ndarray) else v
                                  for k, v in params.items()}}
        with open(os.path.join(folder, "request.json.tmp"), "w") as fh:
            json.dump(request, fh)
        os.replace(os.path.join(folder, "request.json.tmp"), os.path.join(folder, "request.json"))
        return job_id

    def _folder(self, job_id):
        folder = os.path.join(self.jobs_dir, job_id)
        if not job_id.isalnum() or not os.path.exists(os.path.join(folder, "request.json")):
            raise RequestError(404, f"no job {job_id!r}")
        return folder

    def _request(self, job_id):
        with open(os.path.join(self._folder(job_id), "request.json")) as fh:
            return json.load(fh)

    def _final(self, job_id):
        path = os.path.join(self.jobs_dir, job_id, "state.json")
        try:
            with open(path) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return None

    def ids(self):
        found = [name for name in os.listdir(self.jobs_dir)
                 if os.path.exists(os.path.join(self.jobs_dir, name, "request.json"))]
        return sorted(found, key=lambda j: self._request(j)["created"])

    def status(self, job_id) -> dict:
        request = self._request(job_id)
        final = self._final(job_id)
        with self._lock:
            proc = self._procs.get(job_id)
        state = final["state"] if final else ("running" if proc or self._worker_alive(job_id) else "queued")
        out = os.path.join(self.jobs_dir, job_id, "out")
        done, failed = 0, {}
        if os.path.exists(os.path.join(out, "manifest.json")):
            try:
                st = job_status(out, checksums=False)
                done, failed = st["done_rows"], st["failed"]
            except (OSError, ValueError):  # written at this moment, or damaged: read again later
                pass
        n = request["n_rows"]
        answer = {"id": job_id, "model": request["model"], "method": request["method"], "state": state,
                  "n_rows": n, "done_rows": done, "progress": done / n,
                  "failed_rows": {str(k): v for k, v in sorted(failed.items())}, "created": request["created"]}
        if final and final.get("error"):
            answer["error"] = final["error"]
        if proc and done > proc[2]:
            elapsed = time.time() - proc[1]
            answer["eta_s"] = round(elapsed / (done - proc[2]) * (n - done), 1)
        return answer

    def results(self, job_id, *, partial=False):
        """``(rows, failed)``: every row's result (None where failed or not done) and the
        errors of failed rows."""
        self._folder(job_id)
        out = os.path.join(self.jobs_dir, job_id, "out")
        self._check_readable(job_id, partial)
        return load_results(out, partial=True), job_status(out, checksums=False)["failed"]

    def table(self, job_id, *, partial=False):
        self._folder(job_id)
        self._check_readable(job_id, partial)
        return load_table(os.path.join(self.jobs_dir, job_id, "out"), partial=True)

    def _check_readable(self, job_id, partial):
        status = self.status(job_id)
        if status["state"] != "done" and not partial:
            raise RequestError(409, f"job {job_id} is {status['state']} ({status['done_rows']}/{status['n_rows']} "
                               "rows); ask for partial=true to read the rows done so far")
        if not os.path.exists(os.path.join(self.jobs_dir, job_id, "out", "manifest.json")):
            raise RequestError(409, f"job {job_id} has not started yet")

    def _worker_pid(self, job_id):
        try:
            with open(os.path.join(self.jobs_dir, job_id, "worker.pid")) as fh:
                return int(fh.read())
        except (OSError, ValueError):
            return None

    def _worker_alive(self, job_id) -> bool:
        """A live process runs the job (this manager's, or another replica's on this machine)."""
        pid = self._worker_pid(job_id)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except OSError as exc:
            return exc.errno == errno.EPERM
        return True

    def cancel(self, job_id) -> dict:
        self._folder(job_id)
        with self._lock:
            final = self._final(job_id)
            if final:
                raise RequestError(409, f"job {job_id} is {final['state']}; there is nothing to cancel")
            from blackbox_xai.service.job_worker import write_state

            write_state(os.path.join(self.jobs_dir, job_id), "cancelled")
            proc = self._procs.pop(job_id, None)
        if proc:
            _stop(proc[0])
        elif self._worker_alive(job_id):  # run by another replica's manager
            os.kill(self._worker_pid(job_id), signal.SIGTERM)
        return self.status(job_id)

    def counts(self) -> dict:
        counts = dict.fromkeys(("queued", "running") + FINAL, 0)
        for job_id in self.ids():
            final = self._final(job_id)
            running = job_id in self._procs or self._worker_alive(job_id)
            counts[final["state"] if final else ("running" if running else "queued")] += 1
        return counts

    # -- running ---------------------------------------------------------------------------------
    def _loop(self):
        while not self._stop.is_set():
            try:
                self._step()
            except Exception as exc:  # noqa: BLE001 - the loop must outlive one bad folder
                print(f"blackbox-xai serve: job runner: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._stop.wait(self.poll_s)

    def _is_runner(self) -> bool:
        """Whether this manager runs the jobs (holds ``runner.lock``; taken over when the holder ends)."""
        if self._runner is None:
            import fcntl

            fh = open(os.path.join(self.jobs_dir, "runner.lock"), "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
            self._runner = fh
        return True

    def _step(self):
        if not self._is_runner():
            return
        with self._lock:
            for job_id, (proc, _, _) in list(self._procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                del self._procs[job_id]
                if self._final(job_id) is None:  # died without a word: killed, out of memory
                    from blackbox_xai.service.job_worker import write_state

                    how = f"signal {-code}" if code < 0 else f"exit code {code}"
                    last = _last_line(os.path.join(self.jobs_dir, job_id, "worker.log"))
                    write_state(os.path.join(self.jobs_dir, job_id), "failed",
                                error=f"the job's worker process ended ({how}) before the job was done"
                                + (f"; its last words: {last}" if last else ""))
            waiting = [j for j in self.ids() if j not in self._procs and self._final(j) is None]
            for job_id in waiting[: max(0, self.max_running - len(self._procs))]:
                self._start(job_id)

    def _start(self, job_id):
        from blackbox_xai.service.job_worker import die_with_parent, write_state

        folder = os.path.join(self.jobs_dir, job_id)
        request = self._request(job_id)
        entry = self.models.get(request["model"])
        if entry is None:
            write_state(folder, "failed", error=f"model {request['model']!r} is no longer configured")
            return
        spec = {**entry.spec(), "workers": self.workers}
        with open(os.path.join(folder, "worker.log"), "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "blackbox_xai.service.job_worker", folder],
                                    stdin=subprocess.PIPE, stdout=log, stderr=log,
                                    preexec_fn=die_with_parent if sys.platform.startswith("linux") else None)
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
        with open(os.path.join(folder, "worker.pid"), "w") as fh:
            fh.write(str(proc.pid))
        done = 0
        out = os.path.join(folder, "out")
        if os.path.exists(os.path.join(out, "manifest.json")):
            try:
                done = job_status(out, checksums=False)["done_rows"]
            except (OSError, ValueError):
                pass
        self._procs[job_id] = (proc, time.time(), done)

    def close(self):
        """Stop the runner and the workers; unfinished jobs resume when a service starts again."""
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for proc, _, _ in self._procs.values():
                _stop(proc)
            self._procs.clear()
            if self._runner is not None:
                self._runner.close()
                self._runner = None


def _last_line(path, limit=4096):
    """The last non-empty line of a log file (its last ``limit`` bytes), or None."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.path.getsize(path) - limit))
            lines = [line.strip() for line in fh.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1][:500] if lines else None


def _stop(proc, grace=5.0):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
