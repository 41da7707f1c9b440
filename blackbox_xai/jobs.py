"""Dataset-scale batch jobs: shard the rows, explain the shards (on Ray when available), keep
every finished shard on disk, resume where a killed job stopped.

Layout of ``out_dir``::

    manifest.json          what the job is (method, parameters, data fingerprint, shard size)
    shards/00000/          one folder per finished shard, renamed into place atomically
        row-0000000.npz    one saved result per row (SISCollection or Attribution)
        table.parquet      the shard's results as columns, one row per input (when pyarrow is
                           installed; :func:`load_table` reads them all; any Parquet reader can)

A shard is written to a temporary folder and renamed when complete, so a shard folder is either
absent or whole: a job killed at any moment (even SIGKILL) leaves no corrupt shard, and running
the same job again explains only the missing shards. On Ray, a shard whose worker process dies
(out of memory, a crash in native code, a lost node) is retried (``retries`` times); an exception
the model or the explainer raises is deterministic, so it is never retried: it ends the job with
the library's own error, as in a serial run.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import numpy as np

from blackbox_xai._validation import check_positive_int
from blackbox_xai._params import clone
from blackbox_xai.adapters import as_model
from blackbox_xai.executors import (
    RayExecutor,
    check_serializable,
    get_executor,
    release_workers,
    task_cause,
    unpickle_private,
)
from blackbox_xai.result_files import load_result

MANIFEST = "manifest.json"
FORMAT = "blackbox_xai.job"


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


def _write_shard(out_dir, index, start, results):
    final = _shard_dir(out_dir, index)
    tmp = os.path.join(out_dir, "shards", f".tmp-{index:05d}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for offset, result in enumerate(results):
        result.save(os.path.join(tmp, f"row-{start + offset:07d}.npz"))
    pq = _parquet()
    if pq is not None:
        pq.write_table(_table(results, start), os.path.join(tmp, TABLE))
    os.rename(tmp, final)


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


def _table(results, start):
    import pyarrow as pa

    return pa.Table.from_pylist([_record(start + i, r) for i, r in enumerate(results)])


def _explain_shard_on_ray(explainer_bytes, X, use_gpu):
    """A Ray task: the explainer arrives pickled and is unpickled into the task's own memory
    (see :func:`~blackbox_xai.executors.unpickle_private`)."""
    return _explain_shard(unpickle_private(explainer_bytes), X, use_gpu)


def _explain_shard(explainer, X, use_gpu=False):
    """Runs where the shard is explained (a Ray task or this process): serial inside, on the
    task's GPU when it was given one (a torch model moves there)."""
    explainer = clone(explainer, executor="serial")
    if use_gpu:
        explainer.set_params(model=as_model(explainer.model).to_device("cuda"))
    return explainer.explain_batch(X)


def _read_manifest(out_dir):
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{out_dir} holds no job (no {MANIFEST})")
    with open(path) as fh:
        manifest = json.load(fh)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is not a blackbox-xai job manifest")
    return manifest


def _done_shards(out_dir, n_shards):
    return [i for i in range(n_shards) if os.path.isdir(_shard_dir(out_dir, i))]


def run_job(model, X, explainer_spec, out_dir, *, shard_size=64, executor=None, retries=2,
            progress=True):
    """Explain every row of ``X`` into ``out_dir``, shard by shard; resume if already started.

    Parameters
    ----------
    model : anything :func:`blackbox_xai.as_model` accepts (picklable for Ray)
    X : array (N, *input_shape), or a list of strings for text LIME
    explainer_spec : dict or explainer
        ``{"method": "sis" | "kernelshap" | "lime" | "occlusion", **parameters}`` or an explainer
        object (its model is replaced by ``model``).
    out_dir : str or path
    shard_size : int
        Rows per shard (the unit of work, of retry and of resumption).
    executor : None, "serial", "ray" or RayExecutor
        Where shards run: Ray tasks (one shard each, ``num_cpus``/``num_gpus`` of the
        RayExecutor per task, at most ``num_workers`` at once) or this process. None: Ray when
        ``RAY_ADDRESS`` names a cluster, else serial.
    retries : int
        Extra attempts for a shard whose Ray worker dies; exceptions are not retried.
    progress : bool
        A progress bar over shards with an ETA (tqdm when installed).

    Returns
    -------
    dict
        The job's status (see :func:`job_status`).
    """
    shard_size = check_positive_int(shard_size, "shard_size", allow_none=False)
    texts = isinstance(X, (list, tuple)) and all(isinstance(x, str) for x in X)
    data = np.asarray(X, dtype=object if texts else None)
    if len(data) == 0:
        raise ValueError("X is empty")
    explainer = make_explainer(explainer_spec, model)
    out_dir = os.fspath(out_dir)
    n_shards = -(-len(data) // shard_size)
    digest = hashlib.sha1("\x00".join(data).encode() if texts else np.ascontiguousarray(data)).hexdigest()
    manifest = {"format": FORMAT, "version": 1, "n_rows": len(data), "shard_size": shard_size,
                "n_shards": n_shards, "data_sha1": digest, "explainer": _describe(explainer)}
    os.makedirs(os.path.join(out_dir, "shards"), exist_ok=True)
    path = os.path.join(out_dir, MANIFEST)
    if os.path.exists(path):
        old = _read_manifest(out_dir)
        if {k: v for k, v in old.items() if k != "created"} != manifest:
            raise ValueError(
                f"{out_dir} holds a different job (compare its {MANIFEST}); use a new out_dir"
            )
        manifest = old
    else:
        manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(path + ".tmp", "w") as fh:
            json.dump(manifest, fh, indent=1)
        os.replace(path + ".tmp", path)
    for name in os.listdir(os.path.join(out_dir, "shards")):  # leftovers of a killed run
        if name.startswith(".tmp-"):
            shutil.rmtree(os.path.join(out_dir, "shards", name), ignore_errors=True)
    todo = [i for i in range(n_shards) if not os.path.isdir(_shard_dir(out_dir, i))]
    bar = _bar(progress, n_shards, n_shards - len(todo))
    try:
        if todo:
            runner = get_executor(executor)
            shards = {i: (i * shard_size, data[i * shard_size:(i + 1) * shard_size]) for i in todo}
            if isinstance(runner, RayExecutor):
                _run_on_ray(runner, explainer, shards, out_dir, retries, bar)
            else:
                _run_here(explainer, shards, out_dir, bar)
    finally:
        if bar is not None:
            bar.close()
    return job_status(out_dir)


def _bar(progress, total, done):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, unit="shard", desc="shards")


def _run_here(explainer, shards, out_dir, bar):
    for index, (start, X) in shards.items():
        _write_shard(out_dir, index, start, _explain_shard(explainer, X))
        if bar is not None:
            bar.update(1)


def _run_on_ray(runner, explainer, shards, out_dir, retries, bar):
    ray = runner.connect()
    release_workers()  # idle explainer actors would hold the CPUs the shard tasks need
    task = ray.remote(_explain_shard_on_ray).options(num_cpus=runner.num_cpus, num_gpus=runner.num_gpus,
                                              max_retries=retries, retry_exceptions=False)
    limit = min(runner.parallelism, len(shards))
    # shards run `limit` at a time: a served model's request budget is split among them
    explainer = clone(explainer, model=as_model(explainer.model).for_copies(limit))
    explainer_ref = ray.put(check_serializable(explainer, "explainer"))
    pending, queue = {}, list(shards.items())
    while queue or pending:
        while queue and len(pending) < limit:
            index, (start, X) = queue.pop(0)
            pending[task.remote(explainer_ref, X, bool(runner.num_gpus))] = (index, start)
        ready, _ = ray.wait(list(pending), num_returns=1)
        index, start = pending.pop(ready[0])
        try:
            results = ray.get(ready[0])
        except ray.exceptions.RayTaskError as exc:  # the library's error, as serially
            cause = task_cause(ray, exc)
            if cause is None:
                raise
            raise cause.with_traceback(None) from None
        _write_shard(out_dir, index, start, results)
        if bar is not None:
            bar.update(1)


def job_status(out_dir) -> dict:
    """How far a job is: ``n_rows``, ``n_shards``, ``done_shards``, ``done_rows``, ``complete``,
    ``method``, ``missing`` (shard numbers)."""
    out_dir = os.fspath(out_dir)
    manifest = _read_manifest(out_dir)
    n, size = manifest["n_shards"], manifest["shard_size"]
    done = _done_shards(out_dir, n)
    rows = sum(min(size, manifest["n_rows"] - i * size) for i in done)
    return {"n_rows": manifest["n_rows"], "n_shards": n, "done_shards": len(done), "done_rows": rows,
            "complete": len(done) == n, "method": manifest["explainer"]["method"],
            "missing": sorted(set(range(n)) - set(done))}


def load_table(out_dir):
    """Every row's result of a finished job as one ``pyarrow.Table`` (``.to_pandas()`` for a
    DataFrame), one row per input: ``row``, ``method``, ``target`` (JSON), ``n_evaluations`` and,
    for attributions, ``values`` (flattened; ``values_shape``), ``output``, ``base_value``,
    ``std_errors``, ``feature_names``; for SIS, ``threshold``, ``n_sis``, ``sis_sizes``,
    ``sis_scores``, ``sis_features`` (flat feature numbers). Shards written before pyarrow was
    installed are converted from their npz files."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("load_table needs pyarrow: pip install pyarrow (load_results needs nothing)") from exc
    out_dir = os.fspath(out_dir)
    status = _complete_status(out_dir)
    tables, size = [], _read_manifest(out_dir)["shard_size"]
    for index in range(status["n_shards"]):
        path = os.path.join(_shard_dir(out_dir, index), TABLE)
        tables.append(pq.read_table(path) if os.path.exists(path)
                      else _table(_load_shard(out_dir, index), index * size))
    return pa.concat_tables(tables, promote_options="default")


def _complete_status(out_dir):
    status = job_status(out_dir)
    if not status["complete"]:
        raise ValueError(f"job in {out_dir} is not complete: shards {status['missing']} are missing; "
                         "run it again to finish")
    return status


def _load_shard(out_dir, index):
    folder = _shard_dir(out_dir, index)
    return [load_result(os.path.join(folder, name)) for name in sorted(os.listdir(folder)) if name.endswith(".npz")]


def load_results(out_dir) -> list:
    """Every row's result of a finished job, in row order."""
    out_dir = os.fspath(out_dir)
    status = _complete_status(out_dir)
    results = []
    for index in range(status["n_shards"]):
        results.extend(_load_shard(out_dir, index))
    if len(results) != status["n_rows"]:
        raise ValueError(f"job in {out_dir} holds {len(results)} rows, its manifest says {status['n_rows']}")
    return results
