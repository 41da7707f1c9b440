"""The process that runs one service job: ``python -m blackbox_xai.service.job_worker JOB_DIR``.

It reads the model's source (path or URL, adapter options) as JSON on stdin (never from disk: a
URL or header may hold credentials), the job's settings and rows from ``JOB_DIR``, and runs
:func:`blackbox_xai.run_job` into ``JOB_DIR/out`` (resuming what an earlier process finished).
It ends by writing ``JOB_DIR/state.json``: ``{"state": "done"}`` or ``{"state": "failed",
"error": "..."}``. On Linux it dies with the service that started it.
"""
from __future__ import annotations

import json
import os
import sys


def die_with_parent():  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGKILL this process when its parent dies (a killed service leaves no job
    running on its own; the restarted service resumes it)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def write_state(job_dir, state, **fields):
    path = os.path.join(job_dir, "state.json")
    with open(path + ".tmp", "w") as fh:
        json.dump({"state": state, **fields}, fh)
    os.replace(path + ".tmp", path)


def main(job_dir):
    import numpy as np

    from blackbox_xai.jobs import run_job
    from blackbox_xai.result_files import array_from_json
    from blackbox_xai.service.config import ModelEntry

    spec = json.loads(sys.stdin.read())
    with open(os.path.join(job_dir, "request.json")) as fh:
        request = json.load(fh)
    try:
        model = ModelEntry(spec["name"], spec["source"], spec.get("options") or {}).load()
        params = {k: array_from_json(k, v) if isinstance(v, dict) and "dtype" in v else v
                  for k, v in request["parameters"].items()}
        rows = np.load(os.path.join(job_dir, "rows.npy"), allow_pickle=False)
        if rows.dtype.kind == "U":  # documents for text LIME
            rows = rows.tolist()
        executor = None
        if spec.get("workers"):
            from blackbox_xai.executors import RayExecutor

            executor = RayExecutor(num_workers=spec["workers"])
        status = run_job(model, rows, {"method": request["method"], **params}, os.path.join(job_dir, "out"),
                         shard_size=request["shard_size"], on_error=request["on_error"], executor=executor,
                         progress=False)
    except Exception as exc:  # noqa: BLE001 - every failure is the job's state
        write_state(job_dir, "failed", error=" ".join(f"{type(exc).__name__}: {exc}".split()))
        return 1
    write_state(job_dir, "done" if status["complete"] else "failed",
                **({} if status["complete"] else {"error": "the job ended with shards not done"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
