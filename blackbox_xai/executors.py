"""Executors: where the engine's chunks are evaluated.

An executor maps ``(rows, masks)`` chunks to model outputs, in order. The model and the masker
are handed over once per call, so a distributed executor can keep the model on its workers and
ship only masks (a few bytes per feature) instead of inputs. ``run`` hands whole tasks to the
workers instead (a function of the model, e.g. the SIS of a few inputs), for work whose model
calls depend on each other and would otherwise cost a round trip each.

* :class:`SerialExecutor` - in this process, one chunk at a time, one input buffer per thread
  reused across chunks, calls and explainers (the default);
* :class:`ThreadExecutor` - chunks on a thread pool, for models that release the GIL (torch,
  NumPy-heavy code, remote calls);
* :class:`RayExecutor` - chunks on Ray actors that each hold the model once (one machine or a
  cluster, CPU or GPU workers).

``executor=None`` is serial unless the ``RAY_ADDRESS`` environment variable names a cluster
(Ray's own convention): a single row never pays Ray's start-up, a job submitted to a cluster uses
it without being told twice, and nothing depends on what else this process has started.
"""
from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import os
import pickle
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor as _Pool

import numpy as np

from blackbox_xai.exceptions import WorkerLostError


class Executor(abc.ABC):
    """One task API that serial, thread and Ray executors implement; nothing else in the library
    schedules work (explainers and jobs never import ray).

    * ``map(model, masker, chunks)`` yields one output array per chunk, in order:
      ``masker.reduce(model(masker.build(rows, plan)))`` for each ``(rows, plan)`` chunk;
    * ``run(model, fn, tasks)`` yields ``fn(model, *task)`` in order, computed where the model is
      held;
    * ``as_completed(fn, tasks, shared=...)`` yields ``(i, fn(shared, *tasks[i]))`` as tasks finish
      (whole units of work such as a job's shards); closing the generator stops queued tasks;
    * ``close()`` releases the workers; executors are context managers.

    ``parallelism`` is how many chunks or tasks run at once; the engine splits work into at least
    that many chunks. ``remote`` is True when every call is a round trip to another process, so
    work with many dependent model calls is better sent whole with :meth:`run`. ``gpu`` is True
    when tasks run with a GPU of their own.
    """

    parallelism = 1
    remote = False
    gpu = False

    def as_completed(self, fn, tasks, *, shared=None, shared_name="shared", retries=0):
        """Yield ``(i, fn(shared, *tasks[i]))`` as the tasks finish, at most ``parallelism`` at a
        time. ``shared`` is sent to the workers once (``shared_name`` names it in errors); each
        task unpickles its own copy where it runs in another process. ``retries``: extra attempts
        for a task whose worker process dies (an exception is never retried)."""
        for i, task in enumerate(tasks):
            yield i, fn(shared, *task)

    def close(self):
        """Release the workers (they start again when next used)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @abc.abstractmethod
    def map(self, model, masker, chunks):
        """Yield ``masker.reduce(model(masker.build(rows, plan)))`` for each chunk, in order."""

    def run(self, model, fn, tasks):
        """Yield ``fn(model, *task)`` for each task, in order, computed where the model is held.

        For work that calls the model many times, each call depending on the last (a SIS
        backward selection): on a distributed executor it runs next to the model, with no round
        trip per call. ``fn`` and the tasks must pickle there.
        """
        for task in tasks:
            yield fn(model, *task)


_LOCAL = threading.local()  # each thread's input buffer, reused by its SerialExecutors
KEEP_BUFFER_BYTES = 16 * 2**20  # a larger buffer is freed after the call instead of kept


class SerialExecutor(Executor):
    """Evaluate chunks one after another in this process.

    Each batch is built in one buffer per thread, reused across chunks, calls and explainers:
    explaining row after row, even with a new explainer per row, writes into memory already
    mapped and warm in cache instead of fresh pages. Buffers up to ``KEEP_BUFFER_BYTES`` are kept
    between calls. The batch handed to the model is valid only
    during the call: models must not keep it.
    """

    def map(self, model, masker, chunks):
        if masker.dtype == object:  # strings: nothing to reuse
            for rows, plan in chunks:
                yield masker.reduce(model(masker.build(rows, plan)))
            return
        # taken from the thread while in use: a model that itself explains gets a buffer of its own
        buffer, _LOCAL.buffer = getattr(_LOCAL, "buffer", None), None
        try:
            for rows, plan in chunks:
                need = len(rows) * masker.row_nbytes
                if buffer is None or buffer.nbytes < need:
                    buffer = None  # freed before the larger one is allocated
                    buffer = np.empty(need, dtype=np.uint8)
                batch = masker.build(rows, plan, out=buffer[:need].view(masker.dtype))
                yield masker.reduce(model(batch))
        finally:
            if buffer is not None and buffer.nbytes <= KEEP_BUFFER_BYTES:
                _LOCAL.buffer = buffer


class ThreadExecutor(Executor):
    """Evaluate chunks on ``n_workers`` threads (results in chunk order)."""

    def __init__(self, n_workers: int = 2):
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
        self.n_workers = n_workers

    @property
    def parallelism(self) -> int:
        return self.n_workers

    def map(self, model, masker, chunks):
        with _Pool(self.n_workers) as pool:
            yield from pool.map(lambda chunk: masker.reduce(model(masker.build(*chunk))), chunks)

    def run(self, model, fn, tasks):
        with _Pool(self.n_workers) as pool:
            yield from pool.map(lambda task: fn(model, *task), tasks)

    def as_completed(self, fn, tasks, *, shared=None, shared_name="shared", retries=0):
        from concurrent.futures import as_completed

        with _Pool(self.n_workers) as pool:
            futures = {pool.submit(fn, shared, *task): i for i, task in enumerate(tasks)}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()


def _import_ray():
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a core dependency
        raise ImportError("executor='ray' needs ray: pip install ray") from exc
    return ray


def ray_address_set() -> bool:
    """True when ``RAY_ADDRESS`` names a cluster: ``executor=None`` then means Ray."""
    return bool(os.environ.get("RAY_ADDRESS"))


def ensure_ray(address=None, **init_kwargs):
    """Attach to Ray: the runtime already up in this process, the cluster at ``address`` (or
    ``RAY_ADDRESS``; "auto" finds a local ``ray start --head``), else a new local one started with
    ``init_kwargs``, without the dashboard unless asked (``include_dashboard=True``) and without
    Ray's start-up messages."""
    ray = _import_ray()
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a runtime of our own: no dashboard, no start-up chatter
            # address="local": a new runtime, never one a stale file from another process points at
            ray.init(**{"address": "local", "include_dashboard": False, "log_to_driver": False,
                        "logging_level": logging.ERROR, **init_kwargs})
    return ray


def _unpicklable_fields(obj, name, pickle, depth=4) -> list:
    """Dotted paths of the attributes that make ``obj`` unpicklable (deepest found first)."""
    try:
        pickle(obj)
        return []
    except Exception:  # noqa: BLE001 - any pickling failure counts
        pass
    children = vars(obj).items() if depth and hasattr(obj, "__dict__") else ()
    found = [f for key, value in children for f in _unpicklable_fields(value, f"{name}.{key}", pickle, depth - 1)]
    return found or [f"{name} ({type(obj).__name__})"]


def check_serializable(obj, name="model") -> bytes:
    """``obj`` pickled for Ray workers, or a TypeError naming the fields that cannot be."""
    pickle = _import_ray().cloudpickle.dumps
    try:
        return pickle(obj)
    except Exception as exc:  # noqa: BLE001 - reported with the offending fields below
        fields = _unpicklable_fields(obj, name, pickle)
        raise TypeError(
            f"{name} {type(obj).__name__} cannot be sent to Ray workers: {', '.join(fields)} cannot "
            f"be pickled ({type(exc).__name__}: {exc}). Build it inside the worker or use "
            "executor='serial'"
        ) from exc


_INLINE_BYTES = 64 * 2**10  # below Ray's limit for arguments sent inside the call (100 KB)


def _pickled_nbytes(obj) -> int:
    """Size of ``obj`` pickled, its arrays counted without being copied (pickle protocol 5)."""
    buffers = []
    try:
        head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:  # noqa: BLE001 - only cloudpickle can: count it as large
        return 1 << 62
    return len(head) + sum(b.raw().nbytes for b in buffers)


def unpickle_private(data: bytes):
    """An object sent to a Ray worker as pickled bytes (:func:`check_serializable`), unpickled
    into memory of its own: Ray's zero-copy arrays are read-only, and models that hand their
    arrays to native code which asks for writable buffers (scikit-learn's SVC) fail on them."""
    return _import_ray().cloudpickle.loads(data)


def task_cause(ray, exc):
    """The library's exception behind a failed Ray task or actor call (the model's own error, a
    ModelError), with Ray's wrapper and its remote traceback left out; None if there is none."""
    cause = getattr(exc, "cause", None) if isinstance(exc, ray.exceptions.RayTaskError) else None
    return cause if isinstance(cause, Exception) else None


def _run_task(fn, shared_bytes, *task):
    """The body of a Ray task of :meth:`RayExecutor.as_completed`."""
    return fn(unpickle_private(shared_bytes), *task)


class _Worker:
    """Body of a Ray actor: holds the model once and evaluates chunks with a reused buffer."""

    def __init__(self, model_bytes, use_gpu):
        model = unpickle_private(model_bytes)
        if use_gpu:
            model = model.to_device("cuda")
        self.model = model
        self.serial = SerialExecutor()

    def evaluate(self, masker, rows, masks):
        return next(self.serial.map(self.model, masker, [(rows, masks)]))

    def run(self, fn, *task):
        return fn(self.model, *task)


class RayExecutor(Executor):
    """Evaluate chunks on Ray actors that each hold the model once.

    The model is put in the object store once and every actor loads it once; per call only the
    masker (the inputs being explained) is shipped, once, and then each chunk's masks. Results
    come back in chunk order, so they are identical to the serial executor's. ``run`` gives
    each task to the first idle actor and yields the results in task order. An actor that dies
    (out of memory, a crash in native code) fails the call with :class:`WorkerLostError` and
    releases the pool, so the next call starts fresh workers.

    Parameters
    ----------
    num_workers : int, optional
        Actors. Default: as many as the cluster's CPUs (GPUs when ``num_gpus`` is set) allow.
    num_cpus, num_gpus : float
        Resources per actor (fractions allowed). A torch model moves to the actor's GPU when
        ``num_gpus > 0``. Asking for GPUs on a cluster without them fails at once.
    address : str, optional
        Cluster to attach to ("auto", "ray://..."); default ``RAY_ADDRESS`` or a runtime already up
        in this process, else a new local one (``init_kwargs``, e.g. ``num_cpus=2``).
    start_timeout : float
        Seconds to wait for the workers to start; a cluster without room for them raises a clear
        error instead of waiting forever. Starting a pool stops the idle pools of other
        RayExecutors in this process (see :func:`release_workers`).
    """

    remote = True

    def __init__(self, num_workers=None, *, num_cpus=1, num_gpus=0, address=None, init_kwargs=None,
                 start_timeout=60.0):
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 1):
            raise ValueError(f"num_workers must be a positive int or None, got {num_workers!r}")
        for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        self.num_workers = num_workers
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self.start_timeout = float(start_timeout)
        self._pool = None  # (model, actors)
        self._masker = None  # (masker, ObjectRef)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_pool"] = state["_masker"] = None
        return state

    def _ray(self):
        return ensure_ray(self.address, **self.init_kwargs)

    def _workers_wanted(self, ray) -> int:
        resources = ray.cluster_resources()
        if self.num_gpus:
            gpus = resources.get("GPU", 0)
            if gpus < self.num_gpus:
                raise RuntimeError(
                    f"RayExecutor asks for num_gpus={self.num_gpus} per worker but the Ray cluster "
                    f"has {gpus:g} GPU(s) (resources: {dict(resources)}); Ray would wait forever. "
                    "Use num_gpus=0 or attach to a cluster with GPUs"
                )
        by_cpu = int(resources.get("CPU", 1) // self.num_cpus) if self.num_cpus else 1 << 30
        by_gpu = int(resources.get("GPU", 0) // self.num_gpus) if self.num_gpus else 1 << 30
        fit = min(by_cpu, by_gpu)
        if self.num_workers and self.num_workers > fit:
            raise RuntimeError(
                f"RayExecutor asks for {self.num_workers} workers of num_cpus={self.num_cpus:g}, "
                f"num_gpus={self.num_gpus:g} but the Ray cluster holds {fit} at most (resources: "
                f"{dict(resources)}); ask for fewer workers or fewer resources each"
            )
        return self.num_workers or max(1, fit)

    def connect(self):
        """Attach to Ray and check that the cluster can host these workers; returns ``ray``."""
        ray = self._ray()
        self._workers_wanted(ray)  # fails at once on a GPU request the cluster cannot meet
        return ray

    @property
    def parallelism(self) -> int:
        return self.num_workers or self._workers_wanted(self._ray())

    def _actors(self, model):
        """The actor pool holding ``model``: reused while the model is the same object or pickles
        to the same bytes (explainers adapt the model afresh on every call), rebuilt after a
        change or in a new Ray runtime."""
        ray = self._ray()
        job = ray.get_runtime_context().get_job_id()
        pool = self._pool
        if pool is not None and pool["job"] == job and pool["model"] is model:
            return pool["actors"]
        digest = hashlib.sha1(check_serializable(model)).hexdigest()
        if pool is not None and pool["job"] == job and pool["digest"] == digest:
            pool["model"] = model
            return pool["actors"]
        n = self._workers_wanted(ray)
        release_workers()  # idle pools of this process would hold the CPUs the new one needs
        worker = ray.remote(num_cpus=self.num_cpus, num_gpus=self.num_gpus)(_Worker)
        # n copies call at once: a served model's request budget is split among them
        ref = ray.put(check_serializable(model.for_copies(n) if hasattr(model, "for_copies") else model))
        actors = [worker.remote(ref, bool(self.num_gpus)) for _ in range(n)]
        self._pool = {"model": model, "digest": digest, "job": job, "actors": actors}
        _LIVE.add(self)
        ready, _ = ray.wait([a.__ray_ready__.remote() for a in actors], num_returns=n,
                            timeout=self.start_timeout)
        if len(ready) < n:
            self.shutdown()
            raise RuntimeError(
                f"only {len(ready)} of {n} Ray workers (num_cpus={self.num_cpus}, num_gpus="
                f"{self.num_gpus} each) started within {self.start_timeout:g} s; the cluster has "
                f"{dict(ray.available_resources())} free. Ask for fewer workers or resources"
            )
        ray.get(ready)  # a worker that failed to load the model raises here
        return actors

    def map(self, model, masker, chunks):
        # set-up errors (no GPUs, an unpicklable model) raise here, before any chunk is evaluated
        ray = self._ray()
        actors = self._actors(model)
        if self._masker is not None and self._masker[0] is masker:
            ref = self._masker[1]  # a large masker already in the object store
        elif _pickled_nbytes(masker) <= _INLINE_BYTES:
            ref = masker  # Ray inlines it in each call: no object-store round trip per step
        else:  # put once, read by every chunk (and by later calls with the same masker)
            self._masker = (masker, ray.put(masker))
            ref = self._masker[1]
        futures = [actors[i % len(actors)].evaluate.remote(ref, rows, masks)
                   for i, (rows, masks) in enumerate(chunks)]
        return (self._get(ray, future) for future in futures)

    def _get(self, ray, future):
        """``ray.get``; a dead actor releases the pool (the next call starts fresh workers)."""
        try:
            return ray.get(future)
        except ray.exceptions.RayTaskError as exc:
            cause = task_cause(ray, exc)
            if cause is None:
                raise
            raise cause.with_traceback(None) from None  # as serially: the library's own error
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            self.shutdown()
            raise WorkerLostError(
                "a Ray worker of this RayExecutor died while evaluating the model "
                f"({type(exc).__name__}; out of memory, a crash in the model's native code, or a "
                "lost node?). Its workers were released; the next call starts fresh ones"
            ) from exc

    def run(self, model, fn, tasks):
        # set-up errors raise here, as in map; then each task goes to the first idle actor
        ray = self._ray()
        actors = self._actors(model)
        return self._run(ray, actors, fn, list(tasks))

    def _run(self, ray, actors, fn, tasks):
        idle, busy, futures, done = list(actors)[::-1], {}, [], 0
        while done < len(tasks):
            while idle and len(futures) < len(tasks):
                actor = idle.pop()
                futures.append(actor.run.remote(fn, *tasks[len(futures)]))
                busy[futures[-1]] = actor
            ready, _ = ray.wait(list(busy), num_returns=1)
            idle.append(busy.pop(ready[0]))
            while done < len(futures) and futures[done] not in busy:
                yield self._get(ray, futures[done])
                done += 1

    @property
    def gpu(self) -> bool:
        return bool(self.num_gpus)

    def as_completed(self, fn, tasks, *, shared=None, shared_name="shared", retries=0):
        """Each task a Ray task with this executor's ``num_cpus``/``num_gpus``, at most
        ``parallelism`` at once; ``shared`` is put in the object store once, pickled, and each task
        unpickles it into memory of its own (see :func:`unpickle_private`)."""
        ray = self._ray()
        self._workers_wanted(ray)  # a request the cluster cannot meet fails now
        release_workers()  # idle actor pools would hold the CPUs the tasks need
        remote = ray.remote(_run_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                               max_retries=retries, retry_exceptions=False)
        shared_ref = ray.put(check_serializable(shared, shared_name))
        tasks = list(tasks)
        limit = min(self.parallelism, len(tasks))
        pending, queue = {}, list(enumerate(tasks))
        try:
            while queue or pending:
                while queue and len(pending) < limit:
                    i, task = queue.pop(0)
                    pending[remote.remote(fn, shared_ref, *task)] = i
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                yield i, self._get(ray, ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self):
        self.shutdown()

    def shutdown(self):
        """Stop this executor's actors (they also stop when the executor is garbage-collected)."""
        if self._pool is not None:
            ray = _import_ray()
            if ray.is_initialized():
                for actor in self._pool["actors"]:
                    ray.kill(actor)
        self._pool = self._masker = None
        _LIVE.discard(self)


_LIVE = weakref.WeakSet()  # RayExecutors of this process that hold actors


def release_workers():
    """Stop the actors of every RayExecutor in this process (they restart when next used), so
    their CPUs and GPUs are free for other work such as a job's shard tasks."""
    for executor in list(_LIVE):
        executor.shutdown()


EXECUTORS = {"serial": SerialExecutor, "threads": ThreadExecutor, "ray": RayExecutor}


def get_executor(executor) -> Executor:
    """Resolve ``executor``: None (serial, or Ray when ``RAY_ADDRESS`` is set), "serial",
    "threads", "ray", or an :class:`Executor` instance. A name gives a new executor, which the
    caller closes (see :func:`using`); an instance is the caller's, kept open across calls (a
    ``RayExecutor`` keeps its actors until it is closed)."""
    if executor is None:
        executor = "ray" if ray_address_set() else "serial"
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str) and executor in EXECUTORS:
        return EXECUTORS[executor]()
    raise ValueError(
        f"executor must be None, one of {sorted(EXECUTORS)} or an Executor instance, got {executor!r}"
    )


@contextlib.contextmanager
def using(executor):
    """``with using(executor) as ex:`` the resolved executor, closed at the end if it was made
    here from a name (an Executor instance given by the caller stays open)."""
    resolved = get_executor(executor)
    try:
        yield resolved
    finally:
        if resolved is not executor:
            resolved.close()
