"""SIS: sufficient input subsets (Carter et al., AISTATS 2019).

A subset S of features is *sufficient* when ``f(x_S) >= threshold``, where ``x_S`` keeps the
features of S and masks the rest. ``SISExplainer`` finds a collection of disjoint, minimal-by-
backward-selection sufficient subsets for each input.

How the work is organised: the SIS collection of one input is a generator that yields what it
needs evaluated (feature masks, the single-feature removals of a fast-mode step, or a whole exact
backward selection) and receives the answers. A driver runs the generators of many inputs in
lockstep and answers their requests together: the exact backward selections of all inputs advance
as one vectorised loop with one engine call per step, and candidates travel as feature ids, not
masks, so ``explain_batch`` gives even a tiny model large batches at little cost per step.
On an executor with several workers (Ray, threads), or on Ray with one, ``explain_batch`` with at
least as many inputs as workers hands each worker a contiguous part of the inputs to explain in
lockstep by itself (``Executor.run``): no round trip per step. Fewer inputs than workers split
each step's candidates across the workers instead. Warnings found on a worker travel back as data
and are raised by the call.

Semantics follow the reference implementation, with its three defects fixed: a fully masked input
that already reaches the threshold is an error (or a warning, by option) instead of an empty SIS;
an initial mask is applied before anything is evaluated; every SIS is re-evaluated on its own and
flagged (with a warning) if it is not sufficient.
"""
from __future__ import annotations

import copy
import warnings

import numpy as np

from blackbox_xai._validation import (
    broadcast_targets,
    check_array,
    check_choice,
    check_finite_scalar,
    check_positive_int,
    check_random_state,
    check_target,
)
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET, Engine, _Progress
from blackbox_xai.exceptions import InformativeMaskError, InsufficientSISWarning
from blackbox_xai.executors import get_executor
from blackbox_xai.explanation import SIS, SISCollection
from blackbox_xai.features import FeatureSpace, resolve_masked_input
from blackbox_xai.maskers import Masker, RemovalMasker

MODES = ("exact", "fast")


# --- the pure parts ---------------------------------------------------------------------------
def find_sis_from_backselect(order, values, threshold) -> np.ndarray:
    """The SIS read off a backward selection: the shortest suffix of the removal ``order`` whose
    features alone keep ``f >= threshold``, listed last-removed first.

    The last entry (the fully masked state) is included if its value is below the threshold and
    skipped otherwise; scanning earlier entries stops at the first value ``>= threshold``.
    """
    order = np.asarray(order)
    values = np.asarray(values, dtype=float)
    picked = []
    n = len(values)
    if n and values[-1] < threshold:
        picked.append(n - 1)
    for i in range(n - 2, -1, -1):
        if values[i] >= threshold:
            break
        picked.append(i)
    return order[np.asarray(picked, dtype=np.intp)]


class Removals:
    """A backward selection's request: the model outputs of every single-feature removal from
    ``state``, one row per remaining feature in increasing feature order. The driver builds them
    for many inputs at once (:class:`~blackbox_xai.maskers.RemovalMasker`), with no mask per
    candidate."""

    __slots__ = ("state",)

    def __init__(self, state):
        self.state = state


class Backselect:
    """A collection's request: the exact backward selection of ``state`` for output ``target``
    (one feature removed per step, ``r(r+1)/2`` evaluations for r features). The driver answers
    ``(order, values)`` and runs the backward selections of every input that asks in the same
    round together (:func:`backselect_exact`)."""

    __slots__ = ("state", "target")

    def __init__(self, state, target):
        self.state, self.target = state, target


def backselect_exact(engine, masker, rows, states, targets, labels):
    """Exact backward selections of inputs ``rows`` from ``states`` (n, M), vectorised over inputs.

    Each step removes, from every input, the feature whose removal keeps its target output highest
    (ties: the lowest feature index), with one engine call for every input's candidates. Returns
    one ``(order, values)`` per input and the evaluations per input.
    """
    n = len(rows)
    states = np.array(states, dtype=bool)
    r = states.sum(axis=1)
    steps = int(r.max()) if n else 0
    order, values = np.zeros((n, steps), dtype=np.intp), np.zeros((n, steps))
    current = masker.build(rows, states).reshape(n, -1)
    targets = np.asarray(targets, dtype=np.intp)
    one_target = targets[0] if n and np.all(targets == targets[0]) else None
    row_labels = [labels[i] for i in rows]
    grid = np.empty(states.shape)  # score of each (input, candidate feature); -inf: no candidate
    for step in range(steps):
        owner, features = np.nonzero(states)
        out = engine.evaluate(RemovalMasker(current, masker), owner, features, row_labels)
        grid.fill(-np.inf)
        grid[owner, features] = out[:, one_target] if one_target is not None else \
            out[np.arange(len(owner)), targets[owner]]
        chosen = grid.argmax(axis=1)  # the first maximum: ties go to the lowest feature index
        who = np.flatnonzero(r > step)
        chosen = chosen[who]
        order[who, step], values[who, step] = chosen, grid[who, chosen]
        states[who, chosen] = False
        # in place: the engine has consumed this step's masker (executors finish within evaluate)
        if masker._identity:
            current[who, chosen] = masker.masked[chosen]
        else:
            drop = masker.feature_of_position == chosen[:, None]
            current[who] = np.where(drop, masker.masked, current[who])
    return [(order[i, :r[i]], values[i, :r[i]]) for i in range(n)], r * (r + 1) // 2


def backselect_fast(state, target, threshold):
    """Generator: backward selection that removes blocks of features while far above threshold.

    Each step scores every single-feature removal (as exact mode does), ranks the features by how
    little their removal lowers f, and tries to remove the top ``k`` at once: the block is kept
    only if f stays ``>= threshold`` after it (one extra evaluation), else ``k`` is halved. Once
    even two features cannot go together, the rest proceeds one feature per step, exactly as in
    exact mode. Features of one block share the value measured after the block.
    """
    state = state.copy()
    remaining = np.flatnonzero(state)
    order, values = [], []
    k = max(1, len(remaining) // 2)
    while len(remaining):
        scores = (yield Removals(state))[:, target]
        ranked = np.argsort(-scores, kind="stable")  # ties -> lowest feature index first
        taken, taken_values = ranked[:1], scores[ranked[:1]]
        size = min(k, len(remaining) // 2)
        while k > 1 and size >= 2:
            trial = state.copy()
            trial[remaining[ranked[:size]]] = False
            after = (yield trial[None, :])[0, target]
            if after >= threshold:
                taken, taken_values = ranked[:size], np.full(size, after)
                break
            size //= 2
        else:
            k = 1  # near the threshold: single features from here on
        if len(taken) > 1:
            k = len(taken)
        features = remaining[taken]
        order.extend(features)
        values.extend(taken_values)
        state[features] = False
        remaining = np.delete(remaining, taken)
    return np.asarray(order, dtype=np.intp), np.asarray(values, dtype=float)


def sis_collection(initial, threshold, target, *, mode, if_masked_sufficient, label, notes):
    """Generator: the disjoint SIS collection of one input.

    Yields feature masks ``(n, M)`` (receives outputs ``(n, K)``), :class:`Removals` and
    :class:`Backselect` requests; returns ``(target, items)`` with items
    ``(features, order, values, score)``. Warnings are appended to ``notes`` as ``(message,
    category)`` for the caller to raise (they may be found on a worker).
    """
    n_features = len(initial)
    probes = [np.ones(n_features, bool), np.zeros(n_features, bool)]
    if not initial.all():
        probes.append(initial)
    out = yield np.stack(probes)
    target = check_target(target, out.shape[1])
    if target is None:
        target = int(np.argmax(out[0]))
    f_empty = out[1, target]
    f_current = out[2 if len(probes) == 3 else 0, target]
    if f_empty >= threshold:
        message = (
            f"{label}: the fully masked input already reaches the threshold "
            f"(f={f_empty:.6g} >= {threshold:.6g} for output {target}), so every subset would be "
            "sufficient; choose a less informative masked_value or a higher threshold"
        )
        if if_masked_sufficient == "raise":
            raise InformativeMaskError(message)
        notes.append((message + "; returning no SIS", UserWarning))
        return target, []
    items = []
    current = initial.copy()
    while f_current >= threshold and current.any():
        if mode == "exact":
            order, values = yield Backselect(current, target)
        else:
            order, values = yield from backselect_fast(current, target, threshold)
        features = find_sis_from_backselect(order, values, threshold)
        sis_mask = np.zeros(n_features, bool)
        sis_mask[features] = True
        current = current.copy()
        current[features] = False
        out = yield np.stack([sis_mask, current])
        score, f_current = out[0, target], out[1, target]
        items.append((features, order, values, float(score)))
        if score < threshold:
            notes.append((
                f"{label}: SIS #{len(items) - 1} of {len(features)} feature(s) scores "
                f"{score:.6g} < threshold {threshold:.6g} when evaluated alone (non-monotone or "
                "non-deterministic model); it is flagged sufficient=False",
                InsufficientSISWarning,
            ))
        if len(features) == 0:
            break
    return target, items


def evaluate_removals(engine, masker, rows, states, labels):
    """Outputs of every single-feature removal from ``states`` (n, M) of inputs ``rows`` (n,):
    ``(states.sum(), K)``, grouped by input, features in increasing order within an input."""
    current = masker.build(rows, states)
    owner, features = np.nonzero(states)
    return engine.evaluate(RemovalMasker(current, masker), owner, features, [labels[r] for r in rows])


def run_lockstep(engine, masker, generators, rows_of, labels):
    """Drive generators together: each round, the requests of every generator go to the engine
    at once: one call for the feature masks, one for the :class:`Removals`, and the
    :class:`Backselect` requests as one vectorised backward selection.

    Generator ``i`` explains input ``masker.X[rows_of[i]]``. Returns ``(results, n_evaluations)``
    per generator.
    """
    rows_of = np.asarray(rows_of, dtype=np.intp)
    results = [None] * len(generators)
    n_evals = np.zeros(len(generators), dtype=np.int64)
    pending = {i: next(gen) for i, gen in enumerate(generators)}
    while pending:
        replies = []  # (generator, reply, evaluations)
        kinds = {kind: [i for i in pending if type(pending[i]) is kind] for kind in (Backselect, Removals)}
        if kinds[Backselect]:
            ids = kinds[Backselect]
            states = np.stack([pending[i].state for i in ids])
            found, evals = backselect_exact(engine, masker, rows_of[ids], states,
                                            [pending[i].target for i in ids], labels)
            replies += zip(ids, found, evals)
        if kinds[Removals]:
            ids = kinds[Removals]
            states = np.stack([pending[i].state for i in ids])
            counts = states.sum(axis=1)
            out = evaluate_removals(engine, masker, rows_of[ids], states, labels)
            replies += zip(ids, np.split(out, np.cumsum(counts)[:-1]), counts)
        asks = [i for i in pending if type(pending[i]) is np.ndarray]
        if asks:
            sizes = [len(pending[i]) for i in asks]
            masks = pending[asks[0]] if len(asks) == 1 else np.concatenate([pending[i] for i in asks])
            out = engine.evaluate(masker, np.repeat(rows_of[asks], sizes), masks, labels)
            replies += zip(asks, np.split(out, np.cumsum(sizes)[:-1]), sizes)
        for i, reply, evals in replies:
            n_evals[i] += evals
            try:
                pending[i] = generators[i].send(reply)
            except StopIteration as stop:
                results[i] = stop.value
                del pending[i]
    return results, n_evals


def _explain_here(model, explainer, X, targets, initial_masks, labels):
    """Runs where the model is (an executor's worker): ``explainer`` on these inputs with the
    serial executor. Returns the collections and the warnings found, ``(message, category)``."""
    explainer = copy.copy(explainer)
    explainer.model, explainer.executor = model, "serial"
    return explainer._explain_quietly(X, targets, initial_masks, labels)


# --- the estimator ----------------------------------------------------------------------------
class SISExplainer:
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
        "fast": removes blocks of features while far above the threshold, single features near it;
        far fewer evaluations, every SIS still re-verified.
    random_state : None, int or Generator
        Both modes are deterministic (ties go to the lowest feature index); accepted and validated
        so the explainer can be configured like the others.
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

    def __init__(self, model, threshold, *, masked_value=None, target=None, groups=None,
                 batch_size=None, mode="exact", random_state=None, executor=None,
                 if_masked_sufficient="raise", progress=False, memory_budget=DEFAULT_MEMORY_BUDGET):
        self.model = model
        self.threshold = threshold
        self.masked_value = masked_value
        self.target = target
        self.groups = groups
        self.batch_size = batch_size
        self.mode = mode
        self.random_state = random_state
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
        x = check_array(x, "x")
        masks = None if initial_mask is None else [initial_mask]
        return self._explain(x[None], [target], masks, ["x"])[0]

    def explain_batch(self, X, target=None, *, initial_mask=None) -> list:
        """Find the SIS collection of every row of ``X`` (shape ``(N, *input_shape)``).

        ``target`` may be one int for all rows or one per row. Inputs share model calls.
        """
        X = check_array(X, "X", min_ndim=2)
        masks = None if initial_mask is None else [initial_mask] * len(X)
        return self._explain(X, broadcast_targets(target, len(X)), masks, [f"X[{i}]" for i in range(len(X))])

    def _explain(self, X, targets, initial_masks, labels):
        collections, notes = self._explain_quietly(X, targets, initial_masks, labels)
        for message, category in notes:
            warnings.warn(message, category, stacklevel=3)
        return collections

    def _explain_quietly(self, X, targets, initial_masks, labels):
        """The SIS collections of ``X`` and the warnings found, ``(message, category)``, not yet
        raised."""
        threshold = check_finite_scalar(self.threshold, "threshold")
        mode = check_choice(self.mode, "mode", MODES)
        if_sufficient = check_choice(self.if_masked_sufficient, "if_masked_sufficient", ("raise", "warn"))
        batch_size = check_positive_int(self.batch_size, "batch_size")
        check_random_state(self.random_state)
        model = as_model(self.model)
        input_shape = X.shape[1:]
        space = FeatureSpace(input_shape, self.groups)
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        masked_input = resolve_masked_input(self.masked_value, input_shape, dtype)
        starts = [
            np.ones(space.n_features, bool) if initial_masks is None
            else space.from_mask(initial_masks[i], "initial_mask")
            for i in range(len(X))
        ]
        executor = get_executor(self.executor)
        workers = executor.parallelism
        if len(X) >= workers and (workers > 1 or executor.remote):
            parts = max(workers, -(-len(X) // self._lockstep_group(space)))
            return self._explain_across(executor, model, X, targets, initial_masks, labels,
                                        masked_input, parts)
        engine = Engine(model, executor=executor, batch_size=batch_size,
                        memory_budget=self.memory_budget, progress=self.progress)
        masker = engine.prepare(Masker(X, masked_input, space))
        targets = [self.target if t is None else t for t in targets]
        notes = []
        generators = [
            sis_collection(starts[i], threshold, targets[i], mode=mode,
                           if_masked_sufficient=if_sufficient, label=labels[i], notes=notes)
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
        explainer = copy.copy(self)
        explainer.model = None  # the workers hold the adapted model
        explainer.masked_value = masked_input  # not a BackgroundMean's whole training set
        explainer.progress = False
        parts = np.array_split(np.arange(len(X)), n_parts)
        tasks = [(explainer, X[p], [targets[i] for i in p],
                  None if initial_masks is None else [initial_masks[i] for i in p],
                  [labels[i] for i in p]) for p in parts]
        bar = _Progress() if self.progress else None
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
        target, raw = result
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
                             group_ids=space.group_ids)
