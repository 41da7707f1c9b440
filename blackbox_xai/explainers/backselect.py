"""Backward selection for SIS: the search behind :class:`~blackbox_xai.explainers.sis.SISExplainer`.

The SIS collection of one input is a generator (:func:`sis_collection`) that yields what it needs
evaluated (feature masks, the single-feature removals of a fast-mode step, or a whole exact
backward selection) and receives the answers. A driver (:func:`run_lockstep`) runs the generators
of many inputs in lockstep and answers their requests together: the exact backward selections of
all inputs advance as one vectorised loop with one engine call per step
(:func:`backselect_exact`), and candidates travel as feature ids, not masks, so ``explain_batch``
gives even a tiny model large batches at little cost per step.
"""
from __future__ import annotations

import numpy as np

from blackbox_xai._validation import check_target
from blackbox_xai.exceptions import InformativeMaskError, InsufficientSISWarning, NoSISWarning
from blackbox_xai.maskers import RemovalMasker


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


_TINY = 1e-300  # a probability of 0 reads as log-odds -690, not -inf


def strength(outputs, target, log_odds=False) -> np.ndarray:
    """What fast mode ranks removals by and measures margins in, per row of ``outputs`` (n, K):
    column ``target`` itself, or with ``log_odds`` its log-odds ``log p - log(1 - p)``. Where a
    row's probabilities sum to one, ``1 - p`` is the sum of the other columns, which keeps its
    digits where ``p`` itself rounds to 1 (a confident softmax reads exactly 1.0 while the other
    classes still hold 1e-20): removals that all read p = 1 would otherwise tie."""
    outputs = np.asarray(outputs, dtype=np.float64)
    p = outputs[:, target]
    if not log_odds:
        return p
    rest = 1.0 - p
    if outputs.shape[1] > 1:
        others = outputs[:, :target].sum(axis=1) + outputs[:, target + 1:].sum(axis=1)
        softmax = np.abs(others + p - 1.0) <= 1e-4
        rest = np.where(softmax, others, rest)
    return np.log(np.maximum(p, _TINY)) - np.log(np.maximum(rest, _TINY))


def threshold_strength(threshold, log_odds=False) -> float:
    """The threshold on the scale of :func:`strength`."""
    if not log_odds:
        return float(threshold)
    return float(np.log(max(threshold, _TINY)) - np.log(max(1.0 - threshold, _TINY)))


BLOCK_FRACTION = 8  # fast mode removes at most this fraction of the remaining features at once


def backselect_fast(state, target, threshold, strength_now, log_odds=False):
    """Generator: backward selection that removes blocks of features while far above threshold.

    Each step scores every single-feature removal (as exact mode does), ranks the features by how
    little their removal lowers f, and tries to remove the top ``k`` at once (at most an eighth of
    the remaining features): the block is kept only if f stays at or above the threshold and at
    least half of the current margin is left (one extra evaluation), else ``k`` is halved; when
    not even two features can go together, the top one goes alone. The next step starts from the
    size that went through (at least two). Features of one block share the value measured after
    the block.

    With ``log_odds`` (probabilities) ranks and margins use :func:`strength`, the log-odds: a
    confident class's probability saturates near 1, where a block that costs most of the log-odds
    margin barely moves the probability, and where removals that all read p = 1.0 would tie.
    ``strength_now`` is the strength at ``state``. Measured on 28x28 digits
    (benchmarks/sis_bench.py), blocks of up to half the features, kept while f stayed above the
    threshold and ranked by the probability, left first SIS up to 1.6x (sklearn MLP) and 1.9x
    (torch CNN) the size of exact mode's; these rules keep them within 1.07x and 1.14x at 30-70x
    fewer evaluations than exact mode.
    """
    state = state.copy()
    remaining = np.flatnonzero(state)
    order, values = [], []
    k = len(remaining) // BLOCK_FRACTION
    bar = threshold_strength(threshold, log_odds)
    while len(remaining):
        out = yield Removals(state)
        scores, keys = out[:, target], strength(out, target, log_odds)
        ranked = np.argsort(-keys, kind="stable")  # ties -> lowest feature index first
        taken, taken_values, taken_key = ranked[:1], scores[ranked[:1]], keys[ranked[0]]
        size = min(k, len(remaining) // BLOCK_FRACTION)
        keep = (strength_now - bar) / 2
        while size >= 2:
            trial = state.copy()
            trial[remaining[ranked[:size]]] = False
            after = yield trial[None, :]
            key = strength(after, target, log_odds)[0]
            if after[0, target] >= threshold and key - bar >= keep:
                taken, taken_values, taken_key = ranked[:size], np.full(size, after[0, target]), key
                break
            size //= 2
        k = max(2, len(taken))
        features = remaining[taken]
        order.extend(features)
        values.extend(taken_values)
        strength_now = taken_key
        state[features] = False
        remaining = np.delete(remaining, taken)
    return np.asarray(order, dtype=np.intp), np.asarray(values, dtype=float)


def sis_collection(initial, threshold, target, *, mode, if_masked_sufficient, label, notes, log_odds=False):
    """Generator: the disjoint SIS collection of one input.

    Yields feature masks ``(n, M)`` (receives outputs ``(n, K)``), :class:`Removals` and
    :class:`Backselect` requests; returns ``(target, items, reason)`` with items
    ``(features, order, values, score)`` and ``reason`` why no SIS was found (None when some
    were). Warnings are appended to ``notes`` as ``(message,
    category)`` for the caller to raise (they may be found on a worker). ``log_odds``: the
    outputs are probabilities (fast mode measures its margin in log-odds, see
    :func:`backselect_fast`).
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
    now = 2 if len(probes) == 3 else 0
    f_current = out[now, target]
    strength_current = strength(out[now:now + 1], target, log_odds)[0]
    if f_empty >= threshold:
        message = (
            f"{label}: the fully masked input already reaches the threshold "
            f"(f={f_empty:.6g} >= {threshold:.6g} for output {target}), so every subset would be "
            "sufficient; choose a less informative masked_value or a higher threshold"
        )
        if if_masked_sufficient == "raise":
            raise InformativeMaskError(message)
        notes.append((message + "; returning no SIS", NoSISWarning))
        return target, [], message
    if f_current < threshold:
        start = "the input" if len(probes) == 2 else "the input with initial_mask applied"
        message = (f"{label}: {start} does not reach the threshold itself (f={f_current:.6g} < "
                   f"{threshold:.6g} for output {target}), so no subset of it is sufficient")
        notes.append((message + "; returning no SIS", NoSISWarning))
        return target, [], message
    items = []
    current = initial.copy()
    while f_current >= threshold and current.any():
        if mode == "exact":
            order, values = yield Backselect(current, target)
        else:
            order, values = yield from backselect_fast(current, target, threshold, strength_current, log_odds)
        features = find_sis_from_backselect(order, values, threshold)
        sis_mask = np.zeros(n_features, bool)
        sis_mask[features] = True
        current = current.copy()
        current[features] = False
        out = yield np.stack([sis_mask, current])
        score, f_current = out[0, target], out[1, target]
        strength_current = strength(out[1:2], target, log_odds)[0]
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
    return target, items, None


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
