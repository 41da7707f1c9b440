"""The engine: feature masks -> model outputs.

Every predict-only explainer hands the engine boolean feature masks (which features are kept, per
input) and gets the model's outputs back. The engine is the one place that calls the model: it
splits the masks into chunks bounded by a memory budget (and the model's batch size), has an
executor evaluate them, counts evaluations, shows progress, and turns a model failure into a
:class:`~blackbox_xai.exceptions.ModelError` that names the input being explained.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from blackbox_xai.exceptions import NOT_AN_INPUTS_FAULT, ModelError, ModelOutputError
from blackbox_xai.executors import get_executor

DEFAULT_MEMORY_BUDGET = 64 * 2**20  # bytes of model input built per chunk


class Progress:
    """A progress line on stderr (tqdm when installed) counting model evaluations."""

    def __init__(self, total=None, desc="evaluations"):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._bar = tqdm(total=total, desc=desc, unit="eval", smoothing=0.1) if tqdm else None
        self.total, self.count, self._last, self._start = total, 0, 0.0, time.perf_counter()

    def update(self, n):
        self.count += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.perf_counter()
        if now - self._last > 1.0:
            self._last = now
            of = f"/{self.total}" if self.total else ""
            rate = self.count / max(now - self._start, 1e-9)
            print(f"\r{self.count}{of} evaluations ({rate:,.0f}/s)", end="", file=sys.stderr)

    def close(self):
        if self._bar is not None:
            self._bar.close()
        elif self._last:
            print(file=sys.stderr)


class Engine:
    """Evaluate feature masks on a model in bounded, batched chunks.

    Parameters
    ----------
    model : Model
        An adapted model (see :func:`blackbox_xai.as_model`).
    executor : None, str or Executor
        Where chunks run (see :mod:`blackbox_xai.executors`).
    batch_size : int, optional
        Rows per model call. Default: the model's ``batch_size`` hint, else as many rows as fit in
        ``memory_budget``.
    memory_budget : int
        Bytes of model input built at once per chunk (less where the model prefers smaller
        calls: ``Model.chunk_bytes``).
    progress : bool
        Show a progress line counting evaluations.

    Attributes
    ----------
    n_evaluations : int
        Rows sent to the model so far (a plan entry of a background masker costs one row per
        background sample).
    """

    def __init__(self, model, *, executor=None, batch_size=None, memory_budget=DEFAULT_MEMORY_BUDGET,
                 progress=False):
        self.model = model
        self.executor = get_executor(executor)
        self._owns_executor = self.executor is not executor  # made here from a name: closed here
        self.batch_size = batch_size
        self.memory_budget = int(memory_budget)
        self.progress = progress
        self.n_evaluations = 0
        self._bar = None

    def chunk_rows(self, masker) -> int:
        """Plan entries per chunk: bounded by the memory budget and the model's preferences
        (``chunk_bytes``, ``batch_size``)."""
        nbytes = min(self.memory_budget, getattr(self.model, "chunk_bytes", None) or self.memory_budget)
        rows = max(1, nbytes // max(masker.row_nbytes, 1))
        limit = self.batch_size or getattr(self.model, "batch_size", None)
        if limit:
            rows = min(rows, max(1, limit // masker.rows_per_entry))
        return rows

    def start_progress(self, total=None):
        if self.progress and self._bar is None:
            self._bar = Progress(total)

    def close(self):
        """End the progress line and close an executor made from a name."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._owns_executor:
            self.executor.close()

    def prepare(self, masker):
        """``masker`` building its inputs in the dtype the model converts them to, if the model
        declares one (``Model.input_dtype``): the same values, fewer bytes, no conversion."""
        dtype = getattr(self.model, "input_dtype", None)
        return masker if dtype is None else masker.astype(dtype)

    def evaluate(self, masker, rows, masks, labels=None) -> np.ndarray:
        """Model outputs ``(n, K)`` for plan entries ``masks`` (n, ...) of inputs ``rows`` (n,).

        For most maskers the plan entries are boolean feature masks (n, M); see
        :mod:`blackbox_xai.maskers`. ``labels[r]`` names input ``r`` in error messages (default:
        its index).
        """
        rows = np.asarray(rows, dtype=np.intp)
        n = len(rows)
        if n == 0:
            return np.zeros((0, getattr(self.model, "n_outputs", None) or 0))
        n_chunks = max(-(-n // self.chunk_rows(masker)), min(self.executor.parallelism, n))
        step = -(-n // n_chunks)  # equal chunks: no small remainder call
        bounds = [(a, min(a + step, n)) for a in range(0, n, step)]
        chunks = [(rows[a:b], masks[a:b]) for a, b in bounds]
        outs = []
        self.start_progress()
        results = self.executor.map(self.model, masker, chunks)
        for i in range(len(chunks)):
            try:
                outs.append(next(results))
            except Exception as exc:  # noqa: BLE001 - re-raised with context below
                self._raise_located(exc, masker, chunks[i], labels)
            n_rows = len(chunks[i][0]) * masker.rows_per_entry
            self.n_evaluations += n_rows
            if self._bar is not None:
                self._bar.update(n_rows)
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _raise_located(self, exc, masker, chunk, labels):
        """Find which input of a failed chunk makes the model fail and raise a chained error."""
        if isinstance(exc, NOT_AN_INPUTS_FAULT):  # the server, the network, a worker or a limit,
            raise exc  # not one input: re-running input by input would not tell which
        rows, masks = chunk
        culprit = rows[0]
        distinct = np.unique(rows)
        if len(distinct) > 1:
            for r in distinct:
                sel = rows == r
                try:
                    masker.reduce(self.model(masker.build(rows[sel], masks[sel])))
                except Exception:  # noqa: BLE001
                    culprit = r
                    break
        label = labels[culprit] if labels is not None else f"input {culprit}"
        name = getattr(self.model, "name", repr(self.model))
        cls = ModelOutputError if isinstance(exc, ModelOutputError) else ModelError
        raise cls(
            f"model {name} failed on masked variants of {label}: {type(exc).__name__}: {exc}"
        ) from exc
