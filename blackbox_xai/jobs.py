"""Dataset-scale batch jobs: shard the rows, explain the shards (on Ray when asked), keep every
finished shard on disk, resume where a stopped job left off, trust nothing found on disk.

Layout of ``out_dir``::

    manifest.json          what the job is (method, parameters, data fingerprint, shard size) and
                           its id, a checksum of all that
    lock                   held (flock) by the one process running the job
    shards/00000/          one folder per finished shard, renamed into place atomically
        row-0000000.npz    one saved result per row (SISCollection or Attribution)
        table.parquet      the shard's results as columns (when pyarrow is installed)
        record.json        written last: the job id, the shard's rows with each file's size and
                           SHA-256, and the rows that failed with their error

A shard counts as done only when its record verifies: it names this job, lists exactly the
shard's rows, and every file it lists is there with its size and checksum, and no other row file
is. ``job_status``, ``load_results`` and every rerun verify each shard and a rerun redoes any that
does not verify (a deleted, truncated, corrupted, copied or foreign row file, a shard of another
job). A job killed at any moment (even SIGKILL) leaves no half shard; running it again explains
only what is missing.

A row whose explanation raises ends the job with the library's error (``on_error="raise"``), or is
recorded with its error while the job goes on (``on_error="record"``). On Ray, a shard whose worker
process dies (out of memory, a crash in native code, a lost node) is retried (``retries`` times);
an exception is deterministic and never retried.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import time

import numpy as np

from blackbox_xai._validation import check_positive_int
from blackbox_xai._params import clone
from blackbox_xai.adapters import as_model
from blackbox_xai.executors import using
from blackbox_xai.exceptions import NOT_AN_INPUTS_FAULT, JobError, JobLockedError
from blackbox_xai.result_files import load_result

MANIFEST = "manifest.json"
RECORD = "record.json"
LOCK = "lock"
FORMAT = "blackbox_xai.job"
ON_ERROR = ("raise", "record")


def _methods():
    from blackbox_xai.explainers import KernelShapExplainer, LimeExplainer, OcclusionExplainer, SISExplainer

    return {"sis": SISExplainer, "kernelshap": KernelShapExplainer, "lime": LimeExplainer,
            "occlusion": OcclusionExplainer}


def make_explainer(spec, model):
    """An explainer for ``model`` from ``spec``: a dict ``{"method": "sis", **parameters}``, or an
    explainer object (copied, with ``model`` put in)."""
    if isinstance(spec, dict):
        params = dict(spec)
        method = params.pop("method", None)
        methods = _methods()
        if method not in methods:
            raise ValueError(f"explainer_spec['method'] must be one of {sorted(methods)}, got {method!r}")
        return methods[method](model, **params)
    if not hasattr(spec, "explain_batch"):
        raise TypeError(f"explainer_spec must be a dict or an explainer, got {type(spec).__name__}")
    return clone(spec, model=model)


def _describe(explainer) -> dict:
    """The explainer's method and parameters, for the manifest (arrays by shape and checksum;
    parameter objects such as a ``BackgroundMean`` by their type and their own fields, so that a
    rerun with another background is refused instead of resumed)."""
    def plain(value, depth=3):
        if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and np.ndim(value) > 1):
            arr = np.asarray(value)
            return {"array": list(arr.shape), "sha1": hashlib.sha1(np.ascontiguousarray(arr)).hexdigest()}
        if isinstance(value, np.generic):  # np.int64(2048): not an int, and not to be read as its type
            value = value.item()
        if isinstance(value, (str, int, float, bool, type(None))):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v, depth) for v in value]
        if isinstance(value, dict):
            return {str(k): plain(v, depth - 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        fields = getattr(value, "__dict__", None)
        if depth and fields and not callable(value):
            return {"type": type(value).__name__,
                    **{k: plain(v, depth - 1) for k, v in sorted(fields.items()) if not k.startswith("_")}}
        return type(value).__name__
    params = {k: plain(v) for k, v in sorted(explainer.get_params().items())
              if k not in ("model", "executor", "progress")}
    return {"method": type(explainer).__name__, "params": params}


def _shard_dir(out_dir, index):
    return os.path.join(out_dir, "shards", f"{index:05d}")


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_shard(out_dir, job_id, index, start, results, errors):
    """Write one shard: its row files, its table, then its record (last), into a temporary
    folder renamed into place; a shard that did not verify is replaced."""
    final = _shard_dir(out_dir, index)
    tmp = os.path.join(out_dir, "shards", f".tmp-{index:05d}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rows = []
    for offset, result in enumerate(results):
        if result is None:
            continue
        path = result.save(os.path.join(tmp, f"row-{start + offset:07d}.npz"))
        rows.append({"row": start + offset, "file": os.path.basename(path), "bytes": os.path.getsize(path),
                     "sha256": _sha256(path)})
    explained = [(start + i, r) for i, r in enumerate(results) if r is not None]
    pq = _parquet()
    if pq is not None and explained:
        pq.write_table(_table([r for _, r in explained], [row for row, _ in explained]), os.path.join(tmp, TABLE))
    record = {"job": job_id, "shard": index, "rows": rows, "n_rows": len(results),
              "failed": [{"row": start + i, "error": message} for i, message in sorted(errors.items())]}
    with open(os.path.join(tmp, RECORD), "w") as fh:
        json.dump(record, fh, indent=1)
    if os.path.exists(final):  # it did not verify: move it aside, then out of the way
        stale = os.path.join(out_dir, "shards", f".tmp-stale-{index:05d}-{os.getpid()}")
        os.rename(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.rename(tmp, final)


def _shard_problem(out_dir, manifest, index, checksums=True):
    """Why shard ``index`` does not count as done (None when it verifies)."""
    folder = _shard_dir(out_dir, index)
    if not os.path.isdir(folder):
        return "missing"
    try:
        with open(os.path.join(folder, RECORD)) as fh:
            record = json.load(fh)
        rows = record["rows"]
        failed = record.get("failed", [])
    except (OSError, ValueError, KeyError, TypeError):
        return f"{RECORD} is missing or unreadable"
    if record.get("job") != manifest["job_id"] or record.get("shard") != index:
        return "it belongs to another job"
    size, n = manifest["shard_size"], manifest["n_rows"]
    expected = list(range(index * size, min(n, (index + 1) * size)))
    if sorted([r["row"] for r in rows] + [f["row"] for f in failed]) != expected:
        return f"its record does not list rows {expected[0]}-{expected[-1]}"
    listed = {r["file"] for r in rows}
    extra = sorted(name for name in os.listdir(folder) if name.endswith(".npz") and name not in listed)
    if extra:
        return f"it holds row file(s) its record does not list: {', '.join(extra)}"
    for r in rows:
        path = os.path.join(folder, r["file"])
        if not os.path.isfile(path):
            return f"{r['file']} is missing"
        if os.path.getsize(path) != r["bytes"]:
            return f"{r['file']} has {os.path.getsize(path)} bytes, its record says {r['bytes']}"
        if checksums and _sha256(path) != r["sha256"]:
            return f"{r['file']} does not match its checksum"
    return None


def _shard_record(out_dir, index):
    with open(os.path.join(_shard_dir(out_dir, index), RECORD)) as fh:
        return json.load(fh)


TABLE = "table.parquet"


def _parquet():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pq


def _record(row, result) -> dict:
    """One explained input as a flat record (the columns of the shard's Parquet table)."""
    from blackbox_xai.explanation import SISCollection

    record = {"row": row, "target": json.dumps(result.target), "n_evaluations": int(result.n_evaluations)}
    if isinstance(result, SISCollection):
        record.update(method="sis", threshold=float(result.threshold), n_sis=len(result),
                      sis_sizes=[s.size for s in result], sis_scores=[float(s.score) for s in result],
                      sis_features=[s.features.tolist() for s in result])
        return record
    values = np.asarray(result.values, dtype=float)
    record.update(method=result.method, values=values.ravel().tolist(), values_shape=list(values.shape),
                  output=np.ravel(result.output).astype(float).tolist(),
                  base_value=np.ravel(result.base_value).astype(float).tolist(),
                  std_errors=None if result.std_errors is None else result.std_errors.ravel().tolist(),
                  feature_names=result.feature_names)
    return record


def _table(results, rows):
    """The shard's table: one record per result, ``rows`` their row numbers."""
    import pyarrow as pa

    return pa.Table.from_pylist([_record(row, r) for row, r in zip(rows, results)])


def explain_rows(explainer, X, labels, on_error="raise"):
    """``explainer.explain_batch(X, labels=labels)`` with each row's failure kept apart:
    ``(results, errors)``. With ``on_error="record"`` a batch that raises is explained again row
    by row, and a row that raises has None as its result and ``errors[i] = "Type: message"``. A
    failure that is no row's doing (the model server, a lost worker) always raises."""
    try:
        return explainer.explain_batch(X, labels=labels), {}
    except NOT_AN_INPUTS_FAULT:
        raise
    except Exception:
        if on_error == "raise":
            raise
    results, errors = [], {}
    for i in range(len(X)):  # which rows fail, one by one
        try:
            results.append(explainer.explain_batch(X[i:i + 1], labels=labels[i:i + 1])[0])
        except NOT_AN_INPUTS_FAULT:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded with the row, as asked
            results.append(None)
            errors[i] = f"{type(exc).__name__}: {exc}"
    return results, errors


def _explain_shard(explainer, X, use_gpu=False, on_error="raise", start=0):
    """Runs where the shard is explained (a Ray task or this process): serial inside, on the
    task's GPU when it was given one (a torch model moves there); rows are named by their row in
    the dataset (``row 17``) in errors. Returns :func:`explain_rows`' ``(results, errors)``."""
    explainer = clone(explainer, executor="serial")
    if use_gpu:
        explainer.set_params(model=as_model(explainer.model).to_device("cuda"))
    return explain_rows(explainer, X, [f"row {start + i}" for i in range(len(X))], on_error)


def _read_manifest(out_dir):
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{out_dir} holds no job (no {MANIFEST})")
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise JobError(f"{path} cannot be read as a job manifest ({type(exc).__name__}: {exc}); "
                       "remove the folder or use a new out_dir") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "job_id" not in manifest:
        raise JobError(f"{path} is not a blackbox-xai job manifest (or one of an older version); "
                       "remove the folder or use a new out_dir")
    return manifest


def _job_id(manifest) -> str:
    text = json.dumps({k: v for k, v in manifest.items() if k not in ("created", "job_id")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class _FolderLock:
    """An exclusive lock on a job folder, held by a live process (``flock``: the system releases
    it when the process ends, however it ends, so a lock left by a killed run is no obstacle)."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, LOCK)
        self.fh = None

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise JobLockedError(f"{os.path.dirname(self.path)} is being run by {holder}; wait for it "
                                 "to finish (a rerun then resumes) or stop it") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"process {os.getpid()} on {socket.gethostname()}")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        self.fh.close()  # releases the lock


def run_job(model, X, explainer_spec, out_dir, *, shard_size=64, executor=None, retries=2,
            on_error="raise", progress=True):
    """Explain every row of ``X`` into ``out_dir``, shard by shard; resume if already started.

    Parameters
    ----------
    model : anything :func:`blackbox_xai.as_model` accepts (picklable for Ray)
    X : array (N, *input_shape), or a list of strings for text LIME
    explainer_spec : dict or explainer
        ``{"method": "sis" | "kernelshap" | "lime" | "occlusion", **parameters}`` or an explainer
        object (its model is replaced by ``model``).
    out_dir : str or path
        A folder (created if missing). One process at a time may run a job in it; a second gets
        :class:`~blackbox_xai.exceptions.JobLockedError`.
    shard_size : int
        Rows per shard (the unit of work, of retry and of resumption).
    executor : None, "serial", "ray" or RayExecutor
        Where shards run: Ray tasks (one shard each, ``num_cpus``/``num_gpus`` of the
        RayExecutor per task, at most ``num_workers`` at once) or this process. None: Ray when
        ``RAY_ADDRESS`` names a cluster, else serial.
    retries : int
        Extra attempts for a shard whose Ray worker dies; exceptions are not retried.
    on_error : {"raise", "record"}
        A row whose explanation raises: end the job with that error, or record the error in its
        shard and go on (``job_status(out_dir)["failed"]`` lists them; their results are None).
    progress : bool
        A progress bar over shards with an ETA (tqdm when installed).

    Returns
    -------
    dict
        The job's status (see :func:`job_status`).
    """
    shard_size = check_positive_int(shard_size, "shard_size", allow_none=False)
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {list(ON_ERROR)}, got {on_error!r}")
    texts = isinstance(X, (list, tuple)) and all(isinstance(x, str) for x in X)
    data = np.asarray(X, dtype=object if texts else None)
    if len(data) == 0:
        raise ValueError("X is empty")
    explainer = make_explainer(explainer_spec, model)
    explainer._validate_params()  # a wrong setting fails now, not as every row's error
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise JobError(f"out_dir {out_dir} is a file, not a folder")
    n_shards = -(-len(data) // shard_size)
    digest = hashlib.sha1("\x00".join(data).encode() if texts else np.ascontiguousarray(data)).hexdigest()
    manifest = {"format": FORMAT, "version": 2, "n_rows": len(data), "shard_size": shard_size,
                "n_shards": n_shards, "data_sha1": digest, "explainer": _describe(explainer)}
    manifest["job_id"] = _job_id(manifest)
    os.makedirs(os.path.join(out_dir, "shards"), exist_ok=True)
    with _FolderLock(out_dir):
        path = os.path.join(out_dir, MANIFEST)
        if os.path.exists(path):
            old = _read_manifest(out_dir)
            if old["job_id"] != manifest["job_id"]:
                raise JobError(f"{out_dir} holds a different job (compare its {MANIFEST}); use a new out_dir")
            manifest = old
        else:  # shards of any other job found here will not verify against this id
            manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            with open(path + ".tmp", "w") as fh:
                json.dump(manifest, fh, indent=1)
            os.replace(path + ".tmp", path)
        for name in os.listdir(os.path.join(out_dir, "shards")):  # leftovers of a killed run
            if name.startswith(".tmp-"):
                shutil.rmtree(os.path.join(out_dir, "shards", name), ignore_errors=True)
        todo = [i for i in range(n_shards) if _shard_problem(out_dir, manifest, i) is not None]
        bar = _bar(progress, n_shards, n_shards - len(todo))
        try:
            if todo:
                with using(executor) as runner:
                    _run_shards(runner, explainer, data, shard_size, todo, out_dir, manifest["job_id"],
                                retries, on_error, bar)
        finally:
            if bar is not None:
                bar.close()
    return job_status(out_dir)


def _run_shards(runner, explainer, data, shard_size, todo, out_dir, job_id, retries, on_error, bar):
    """Every shard in ``todo`` as one task of ``runner``, written as it finishes."""
    limit = min(runner.parallelism, len(todo))
    # shards run `limit` at a time: a served model's request budget is split among them
    explainer = clone(explainer, model=as_model(explainer.model).for_copies(limit))
    tasks = [(data[i * shard_size:(i + 1) * shard_size], runner.gpu, on_error, i * shard_size) for i in todo]
    for k, (results, errors) in runner.as_completed(_explain_shard, tasks, shared=explainer, shared_name="explainer",
                                                    retries=retries):
        _write_shard(out_dir, job_id, todo[k], todo[k] * shard_size, results, errors)
        if bar is not None:
            bar.update(1)


def _bar(progress, total, done):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit="shard", desc="shards")


def job_status(out_dir, *, checksums=True) -> dict:
    """How far a job is, every shard verified (``checksums=False``: by the files' sizes only, to
    poll a running job cheaply): ``n_rows``, ``n_shards``, ``done_shards``,
    ``done_rows``, ``complete``, ``method``, ``missing`` (shard numbers not done), ``invalid``
    (``{shard: why}`` for shards on disk that do not verify: a rerun redoes them) and ``failed``
    (``{row: error}`` of rows recorded as failed)."""
    out_dir = os.fspath(out_dir)
    manifest = _read_manifest(out_dir)
    n, size = manifest["n_shards"], manifest["shard_size"]
    problems = {i: _shard_problem(out_dir, manifest, i, checksums) for i in range(n)}
    done = [i for i, p in problems.items() if p is None]
    failed = {f["row"]: f["error"] for i in done for f in _shard_record(out_dir, i).get("failed", [])}
    rows = sum(min(size, manifest["n_rows"] - i * size) for i in done)
    return {"n_rows": manifest["n_rows"], "n_shards": n, "done_shards": len(done), "done_rows": rows,
            "complete": len(done) == n, "method": manifest["explainer"]["method"],
            "missing": sorted(set(range(n)) - set(done)),
            "invalid": {i: p for i, p in problems.items() if p not in (None, "missing")}, "failed": failed}


def load_table(out_dir, *, partial=False):
    """Every explained row of a job as one ``pyarrow.Table`` (``.to_pandas()`` for a DataFrame),
    one row per input: ``row``, ``method``, ``target`` (JSON), ``n_evaluations`` and, for
    attributions, ``values`` (flattened; ``values_shape``), ``output``, ``base_value``,
    ``std_errors``, ``feature_names``; for SIS, ``threshold``, ``n_sis``, ``sis_sizes``,
    ``sis_scores``, ``sis_features`` (flat feature numbers). Rows recorded as failed are left
    out; ``partial=True`` reads an unfinished job's verified shards."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("load_table needs pyarrow: pip install pyarrow (load_results needs nothing)") from exc
    out_dir = os.fspath(out_dir)
    status = _readable_status(out_dir, partial)
    tables = []
    for index in sorted(set(range(status["n_shards"])) - set(status["missing"])):
        path = os.path.join(_shard_dir(out_dir, index), TABLE)
        if os.path.exists(path):
            tables.append(pq.read_table(path))
        else:  # written without pyarrow
            rows = [(r, result) for r, result in _load_shard(out_dir, index) if result is not None]
            if rows:
                tables.append(_table([result for _, result in rows], [r for r, _ in rows]))
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def _readable_status(out_dir, partial):
    status = job_status(out_dir)
    if not status["complete"] and not partial:
        why = "; ".join(f"shard {i}: {p}" for i, p in status["invalid"].items())
        raise JobError(f"job in {out_dir} is not complete: shards {status['missing']} are not done"
                       + (f" ({why})" if why else "") + "; run it again to finish, or read it with partial=True")
    return status


def _load_shard(out_dir, index):
    """``[(row, result or None)]`` of a verified shard, in row order."""
    record = _shard_record(out_dir, index)
    folder = _shard_dir(out_dir, index)
    loaded = [(r["row"], load_result(os.path.join(folder, r["file"]))) for r in record["rows"]]
    return sorted(loaded + [(f["row"], None) for f in record.get("failed", [])], key=lambda pair: pair[0])


def load_results(out_dir, *, partial=False) -> list:
    """Every row's result of a job, in row order, each shard verified first. Rows recorded as
    failed (``on_error="record"``) are None. ``partial=True`` reads an unfinished job: rows of
    shards not done yet are None too."""
    out_dir = os.fspath(out_dir)
    status = _readable_status(out_dir, partial)
    results = [None] * status["n_rows"]
    for index in sorted(set(range(status["n_shards"])) - set(status["missing"])):
        for row, result in _load_shard(out_dir, index):
            results[row] = result
    return results
