"""Executors: where the engine's chunks are evaluated.

An executor maps ``(rows, masks)`` chunks to model outputs, in order. The model and the masker
are handed over once per call, so a distributed executor can keep the model on its workers and
ship only masks (a few bytes per feature) instead of inputs.

* :class:`SerialExecutor` - in this process, one chunk at a time, one input buffer reused across
  chunks and calls (the default);
* :class:`ThreadExecutor` - chunks on a thread pool, for models that release the GIL (torch,
  NumPy-heavy code, remote calls).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor as _Pool

import numpy as np


class Executor:
    """Interface: ``map(model, masker, chunks)`` yields one output array per chunk, in order:
    ``masker.reduce(model(masker.build(rows, plan)))`` for each ``(rows, plan)`` chunk."""

    def map(self, model, masker, chunks):  # pragma: no cover - interface
        raise NotImplementedError


class SerialExecutor(Executor):
    """Evaluate chunks one after another in this process, reusing one input buffer.

    The batch handed to the model is valid only during the call: models must not keep it.
    """

    def __init__(self):
        self._buffer = None

    def _buffer_for(self, n, masker):
        if masker.dtype == object:  # strings: nothing to reuse
            return None
        need = n * masker.row_nbytes
        if self._buffer is None or self._buffer.nbytes < need:
            self._buffer = np.empty(need, dtype=np.uint8)
        return self._buffer[:need].view(masker.dtype)

    def map(self, model, masker, chunks):
        for rows, masks in chunks:
            batch = masker.build(rows, masks, out=self._buffer_for(len(rows), masker))
            yield masker.reduce(model(batch))

    def __getstate__(self):
        return {"_buffer": None}


class ThreadExecutor(Executor):
    """Evaluate chunks on ``n_workers`` threads (results in chunk order)."""

    def __init__(self, n_workers: int = 2):
        if not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
        self.n_workers = n_workers

    def map(self, model, masker, chunks):
        with _Pool(self.n_workers) as pool:
            yield from pool.map(lambda chunk: masker.reduce(model(masker.build(*chunk))), chunks)


EXECUTORS = {"serial": SerialExecutor, "threads": ThreadExecutor}


def get_executor(executor) -> Executor:
    """Resolve ``executor``: None or "serial", "threads", or an :class:`Executor` instance."""
    if executor is None:
        return SerialExecutor()
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str) and executor in EXECUTORS:
        return EXECUTORS[executor]()
    raise ValueError(
        f"executor must be None, one of {sorted(EXECUTORS)} or an Executor instance, got {executor!r}"
    )
