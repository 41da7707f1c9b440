"""SIS: sufficient input subsets (Carter et al., AISTATS 2019).

A subset S of features is *sufficient* when ``f(x_S) >= threshold``, where ``x_S`` keeps the
features of S and masks the rest. ``SISExplainer`` finds a collection of disjoint, minimal-by-
backward-selection sufficient subsets for each input.

The search itself (backward selection, the collection of one input as a generator, the lockstep
driver of many inputs) is in :mod:`~blackbox_xai.explainers.backselect`; this module holds the
explainer. On an executor with several workers (Ray, threads), or on Ray with one,
``explain_batch`` with at least as many inputs as workers hands each worker a contiguous part of
the inputs to explain in lockstep by itself (``Executor.run``): no round trip per step. Fewer
inputs than workers split each step's candidates across the workers instead. Warnings found on a
worker travel back as data and are raised by the call.

Semantics follow the reference implementation, with its three defects fixed: a fully masked input
that already reaches the threshold is an error (or a warning, by option) instead of an empty SIS;
an initial mask is applied before anything is evaluated; every SIS is re-evaluated on its own and
flagged (with a warning) if it is not sufficient.
"""
from __future__ import annotations

import warnings

import numpy as np

from blackbox_xai._params import clone
from blackbox_xai._validation import EXECUTION_CONSTRAINTS, ArrayLike, Instance, Interval, Options
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET, Progress
from blackbox_xai.executors import using
from blackbox_xai.explainers._base import Explainer
from blackbox_xai.explainers.backselect import run_lockstep, sis_collection
from blackbox_xai.exceptions import NoSISWarning
from blackbox_xai.explanation import SIS, SISCollection
from blackbox_xai.features import BackgroundMean, FeatureSpace, resolve_masked_input
from blackbox_xai.maskers import Masker

MODES = ("exact", "fast")


def _explain_here(model, explainer, X, targets, initial_masks, labels):
    """Runs where the model is (an executor's worker): ``explainer`` on these inputs with the
    serial executor. Returns the collections and the warnings found, ``(message, category)``."""
    explainer = clone(explainer, model=model, executor="serial")
    return explainer._explain_quietly(X, targets, initial_masks, labels)


# --- the estimator ----------------------------------------------------------------------------
class SISExplainer(Explainer):
    """Sufficient input subsets of a black-box model.

    Parameters
    ----------
    model : callable, sklearn estimator, torch module or Model
        Anything :func:`blackbox_xai.as_model` accepts; e.g. ``clf.predict`` (read through
        ``predict_proba``) or a function returning probabilities ``(B, K)``.
    threshold : float
        A subset S is sufficient when ``f(x_S) >= threshold`` for the target output.
    masked_value : None, float, array or BackgroundMean
        What masked features take: 0 (default), a scalar, an array broadcastable to x, or
        ``BackgroundMean(X_train)`` for the training mean.
    target : int, optional
        Output column to explain; None: the class predicted for each x.
    groups : None, tuple or int array
        Features: per element (None), a broadcast mask shape such as ``(1, 28, 28)`` for one
        feature per pixel of a ``(3, 28, 28)`` image, or an integer group map (superpixels,
        word ids). See :class:`~blackbox_xai.features.FeatureSpace`.
    batch_size : int, optional
        Rows per model call (default: the model's hint, else a memory budget).
    mode : {"exact", "fast"}
        "exact": the reference backward selection, ``r(r+1)/2`` evaluations for r features.
        "fast": removes blocks of features while far above the threshold (a block may use at most
        half of the margin left, in log-odds when the model outputs probabilities), single
        features near it; far fewer evaluations, every SIS still re-verified. For a model whose
        ``output_kind`` is "probability" it ranks removals by log-odds, with ``1 - p`` summed
        from the other classes, so that removals which all read p = 1.0 do not tie.
    executor : None, "serial", "threads", "ray" or Executor
        Where model calls run. With several workers, ``explain_batch`` explains parts of ``X`` on
        the workers (see the module docstring).
    if_masked_sufficient : {"raise", "warn"}
        What to do when the fully masked input already reaches the threshold: raise
        :class:`InformativeMaskError` (default) or warn and return an empty collection.
    progress : bool
        Show a progress line counting model evaluations.
    memory_budget : int
        Bytes of model input built per chunk.

    Examples
    --------
    >>> explainer = SISExplainer(model.predict, threshold=0.9)   # doctest: +SKIP
    >>> sis = explainer.explain(x)                               # doctest: +SKIP
    >>> sis[0].indices, sis[0].mask, sis.n_evaluations           # doctest: +SKIP
    """

    _parameter_constraints = {
        "model": "no_validation",  # as_model checks it
        "threshold": [Interval(float)],
        "masked_value": [None, ArrayLike(), Instance("a BackgroundMean", BackgroundMean)],
        "target": [None, Interval(int)],
        "groups": [None, ArrayLike()],
        "mode": [Options(*MODES)],
        "if_masked_sufficient": [Options("raise", "warn")],
        **EXECUTION_CONSTRAINTS,
    }

    def __init__(self, model, threshold, *, masked_value=None, target=None, groups=None,
                 batch_size=None, mode="exact", executor=None,
                 if_masked_sufficient="raise", progress=False, memory_budget=DEFAULT_MEMORY_BUDGET):
        self.model = model
        self.threshold = threshold
        self.masked_value = masked_value
        self.target = target
        self.groups = groups
        self.batch_size = batch_size
        self.mode = mode
        self.executor = executor
        self.if_masked_sufficient = if_masked_sufficient
        self.progress = progress
        self.memory_budget = memory_budget

    def explain(self, x, target=None, *, initial_mask=None) -> SISCollection:
        """Find the SIS collection of one input ``x``.

        Parameters
        ----------
        x : array
            One input, in the shape the model takes for one row (without the batch axis).
        target : int, optional
            Overrides the constructor's ``target``.
        initial_mask : bool array, optional
            Features to consider (True); the others are masked from the start. Shape: the mask
            shape of the features (one bool per group for a group map).
        """
        return super().explain(x, target, initial_mask=initial_mask)

    def explain_batch(self, X, target=None, *, initial_mask=None, labels=None) -> list:
        """Find the SIS collection of every row of ``X`` (shape ``(N, *input_shape)``).

        ``target`` may be one int for all rows or one per row; ``initial_mask`` applies to every
        row; ``labels`` names the rows in errors, warnings and reasons (default ``X[i]``). Inputs
        share model calls.
        """
        return super().explain_batch(X, target, labels=labels, initial_mask=initial_mask)

    def _explain(self, X, targets, labels, initial_mask=None):
        collections, notes = self._explain_quietly(X, targets, initial_mask, labels)
        empty = [message for message, category in notes if category is NoSISWarning]
        if len(empty) > 1:  # one warning for a batch; each collection's reason says why
            notes = [n for n in notes if n[1] is not NoSISWarning]
            notes.append((f"{len(empty)} of {len(X)} inputs have no SIS (see each collection's reason); "
                          f"the first: {empty[0]}", NoSISWarning))
        for message, category in notes:
            warnings.warn(message, category, stacklevel=4)
        return collections

    def _explain_quietly(self, X, targets, initial_masks, labels):
        """The SIS collections of ``X`` and the warnings found, ``(message, category)``, not yet
        raised."""
        threshold, mode, if_sufficient = float(self.threshold), self.mode, self.if_masked_sufficient
        model = as_model(self.model)
        if model.output_kind == "probability" and threshold > 1:
            raise ValueError(f"threshold={threshold:g} is above 1, the largest probability model "
                             f"{model.name} can output: no subset could reach it")
        input_shape = X.shape[1:]
        space = FeatureSpace(input_shape, self.groups)
        dtype = self._float_dtype(X)
        masked_input = resolve_masked_input(self.masked_value, input_shape, dtype)
        starts = [
            np.ones(space.n_features, bool) if initial_masks is None
            else space.from_mask(initial_masks[i], "initial_mask")
            for i in range(len(X))
        ]
        with using(self.executor) as executor:
            workers = executor.parallelism
            if len(X) >= workers and (workers > 1 or executor.remote):
                parts = max(workers, -(-len(X) // self._lockstep_group(space)))
                return self._explain_across(executor, model, X, targets, initial_masks, labels,
                                            masked_input, parts)
            return self._explain_lockstep(executor, model, X, targets, starts, labels, masked_input, space,
                                          threshold, mode, if_sufficient)

    def _explain_lockstep(self, executor, model, X, targets, starts, labels, masked_input, space, threshold,
                          mode, if_sufficient):
        """The inputs in lockstep here, each step's model calls through the engine."""
        engine = self._engine(model, executor)
        masker = engine.prepare(Masker(X, masked_input, space))
        targets = [self.target if t is None else t for t in targets]
        notes = []
        generators = [
            sis_collection(starts[i], threshold, targets[i], mode=mode, if_masked_sufficient=if_sufficient,
                           label=labels[i], notes=notes, log_odds=model.output_kind == "probability")
            for i in range(len(X))
        ]
        results, n_evals = [None] * len(X), np.zeros(len(X), dtype=np.int64)
        group = self._lockstep_group(space)
        try:
            for a in range(0, len(X), group):
                rows_of = np.arange(a, min(a + group, len(X)))
                res, ev = run_lockstep(engine, masker, generators[a:a + group], rows_of, labels)
                results[a:a + group], n_evals[a:a + group] = res, ev
        finally:
            engine.close()
        return [
            self._collection(X[i], masked_input, space, results[i], n_evals[i], threshold, mode)
            for i in range(len(X))
        ], notes

    def _lockstep_group(self, space) -> int:
        """Inputs stepped in lockstep at once: bounds the masks held to ~memory_budget bytes."""
        return max(1, int(self.memory_budget // max(space.n_features**2, 1)))

    def _explain_across(self, executor, model, X, targets, initial_masks, labels, masked_input,
                        n_parts):
        """Parallel across inputs: ``n_parts`` contiguous parts of ``X`` (at least one per worker,
        at most a lockstep group each), each explained on a worker by itself, its inputs in
        lockstep, with no round trip per backward-selection step. Idle workers take the next
        part."""
        # the workers hold the adapted model; the masked input, not a BackgroundMean's training set
        explainer = clone(self, model=None, masked_value=masked_input, progress=False)
        parts = np.array_split(np.arange(len(X)), n_parts)
        tasks = [(explainer, X[p], [targets[i] for i in p],
                  None if initial_masks is None else [initial_masks[i] for i in p],
                  [labels[i] for i in p]) for p in parts]
        bar = Progress() if self.progress else None
        results, notes = [], []
        try:
            for collections, found in executor.run(model, _explain_here, tasks):
                results += collections
                notes += found
                if bar is not None:
                    bar.update(sum(int(c.n_evaluations) for c in collections))
        finally:
            if bar is not None:
                bar.close()
        return results, notes

    @staticmethod
    def _collection(x, masked_input, space, result, n_evaluations, threshold, mode):
        target, raw, reason = result
        items = []
        for features, order, values, score in raw:
            mask = np.zeros(space.n_features, bool)
            mask[features] = True
            items.append(SIS(
                indices=space.coords(features),
                features=np.asarray(features, dtype=np.intp),
                mask=space.to_mask(mask),
                order=space.coords(order),
                values=np.asarray(values, dtype=float),
                score=score,
                sufficient=bool(score >= threshold),
            ))
        return SISCollection(items, x=x, masked_input=masked_input, target=target,
                             threshold=threshold, n_evaluations=n_evaluations, mode=mode,
                             group_ids=space.group_ids, reason=reason)
