"""The coalition plan of KernelSHAP: which coalitions to evaluate, with what Shapley-kernel weight.

Coalitions come in complementary pairs grouped by size; sizes the budget covers are enumerated,
the others sampled as strata (:class:`CoalitionPlan`). With ``n_samples="auto"`` the plan grows
in rounds that every input of a call meets in the same order (:class:`PlanRounds`).
"""
from __future__ import annotations

import copy
import itertools
from math import comb

import numpy as np


def size_weights(n_features: int) -> np.ndarray:
    """Shapley-kernel mass of each coalition size s = 1..M-1 (index s-1), summing to one:
    ``(M-1) / (s (M-s))`` normalised."""
    s = np.arange(1, n_features)
    w = (n_features - 1) / (s * (n_features - s))
    return w / w.sum()


def _subsets(n_features, size) -> np.ndarray:
    """Every coalition of ``size`` features, in lexicographic order of their feature lists."""
    if 2 * size > n_features:  # the complements of the small size, in reverse: 12x faster at M = 80
        return ~_subsets(n_features, n_features - size)[::-1]
    combos = np.array(list(itertools.combinations(range(n_features), size)), dtype=np.intp)
    masks = np.zeros((len(combos), n_features), dtype=bool)
    masks[np.arange(len(combos))[:, None], combos] = True
    return masks


def _largest_remainder(total: int, shares) -> np.ndarray:
    """Split ``total`` into integers proportional to ``shares`` (largest remainders get the rest)."""
    exact = total * shares / shares.sum()
    counts = np.floor(exact).astype(np.intp)
    counts[np.argsort(counts - exact, kind="stable")[: total - counts.sum()]] += 1
    return counts


class CoalitionPlan:
    """The coalitions of one KernelSHAP run and their Shapley-kernel weights.

    Coalitions come in complementary pairs grouped by size ``s <= M/2`` (a pair holds one
    coalition of size s and one of size M - s). The budget is shared among sizes in proportion to
    ``sqrt`` of their kernel mass (the geometric mean of the Shapley-kernel and leverage-score
    sampling distributions); a size whose share covers all of its pairs is enumerated, and the
    share is re-divided among the rest until none fits. Sampled sizes are strata: each gets a
    fixed number of uniformly drawn pairs, and each draw of stratum ``k`` puts
    ``pair_mass[k] / (2 * draws in k)`` on both of its coalitions, so the weights are unbiased
    for the kernel's. Duplicates are merged; draws continue until the budget is spent in
    distinct coalitions. This cuts the error at equal evaluations against kernel-proportional
    sampling (benchmarks/shap_bench.py).

    ``masks`` (n, M) are distinct; ``draws_a`` / ``draws_b`` index each drawn pair's members in
    ``masks`` and ``draw_stratum`` its stratum. :meth:`extend` draws more pairs.
    """

    def __init__(self, n_features: int, budget: int, rng: np.random.Generator):
        m = n_features
        self.n_features, self.rng = m, rng
        mass = size_weights(m)
        sizes = np.arange(1, m // 2 + 1)
        middle = 2 * sizes == m
        pair_mass = mass[sizes - 1] * np.where(middle, 1, 2)
        n_pairs = np.array([comb(m, int(k)) // (2 if mid else 1) for k, mid in zip(sizes, middle)], dtype=float)
        share = np.sqrt(pair_mass)
        enumerated, left = np.zeros(len(sizes), dtype=bool), budget
        while not enumerated.all():  # water-filling: enumerate every size its share covers
            active = np.flatnonzero(~enumerated)
            fits = (left / 2) * share[active] / share[active].sum() >= n_pairs[active]
            if not fits.any():
                break
            enumerated[active[fits]] = True
            left -= int(2 * n_pairs[active[fits]].sum())
        fixed_masks, fixed_weights = [], []
        for k in np.flatnonzero(enumerated):
            for size in sorted({int(sizes[k]), m - int(sizes[k])}):
                fixed_masks.append(_subsets(m, size))
                fixed_weights.append(np.full(comb(m, size), mass[size - 1] / comb(m, size)))
        self.n_fixed = sum(len(a) for a in fixed_masks)
        self._masks = fixed_masks
        self.fixed_weights = np.concatenate(fixed_weights) if fixed_weights else np.zeros(0)
        self.sample_sizes = sizes[~enumerated]
        self.stratum_mass = pair_mass[~enumerated]
        self._share = share[~enumerated]
        self._keys = _row_keys(np.zeros((0, m), dtype=bool))  # of the sampled coalitions
        self.draws_a = self.draws_b = self.draw_stratum = np.zeros(0, dtype=np.intp)
        self.n_masks = self.n_fixed
        if len(self.sample_sizes):
            self.extend(left)

    @property
    def exact(self) -> bool:
        return len(self.sample_sizes) == 0

    @property
    def masks(self) -> np.ndarray:
        if len(self._masks) != 1:
            self._masks = [np.concatenate(self._masks)] if self._masks else [np.zeros((0, self.n_features), bool)]
        return self._masks[0]

    def snapshot(self) -> "CoalitionPlan":
        """The plan as it is now; later :meth:`extend` calls do not change the snapshot."""
        snap = copy.copy(self)
        snap._masks = [self.masks]
        return snap

    def draw_weights(self) -> np.ndarray:
        """The weight each drawn pair puts on each of its two coalitions."""
        counts = np.bincount(self.draw_stratum, minlength=len(self.sample_sizes))
        return (self.stratum_mass / (2 * np.maximum(counts, 1)))[self.draw_stratum]

    def weights(self) -> np.ndarray:
        w = np.zeros(self.n_masks)
        w[: self.n_fixed] = self.fixed_weights
        if len(self.draws_a):
            half = self.draw_weights()
            w += np.bincount(self.draws_a, half, minlength=self.n_masks)
            w += np.bincount(self.draws_b, half, minlength=self.n_masks)
        return w

    def extend(self, budget: int) -> int:
        """Draw complementary pairs until ``budget`` new distinct coalitions are added (or the
        sampled sizes are exhausted). Returns how many were added. Vectorised: each round draws
        as many pairs as still fit, split among the strata, in random order, and keeps the
        longest prefix of draws within the budget."""
        m, added, stalled = self.n_features, 0, 0
        while stalled < 8:  # 8 rounds in a row without a new coalition: the strata are exhausted
            want = (budget - added) // 2
            if want < 1:
                break
            strata = np.repeat(np.arange(len(self.sample_sizes)), _largest_remainder(want, self._share))
            strata = strata[self.rng.permutation(want)]
            keys = self.rng.random((want, m))  # a random order of the features: its first s
            cut = np.sort(keys, axis=1)[np.arange(want), self.sample_sizes[strata] - 1]
            pairs = np.empty((2 * want, m), dtype=bool)
            np.less_equal(keys, cut[:, None], out=pairs[0::2])
            np.logical_not(pairs[0::2], out=pairs[1::2])
            keys = _row_keys(pairs)
            n_old = len(self._keys)
            unique, first, inverse = np.unique(np.concatenate([self._keys, keys]), return_index=True,
                                               return_inverse=True)
            pos = np.arange(n_old, n_old + 2 * want)
            fresh = first[inverse[pos]] == pos
            kept = int(np.searchsorted(np.cumsum(fresh.reshape(want, 2).sum(axis=1)), budget - added,
                                       side="right"))
            fresh = fresh[: 2 * kept]
            if kept == 0:
                break
            stalled = 0 if fresh.any() else stalled + 1
            mask_of = np.full(len(unique), -1, dtype=np.intp)  # unique key -> row of self.masks
            mask_of[inverse[:n_old]] = self.n_fixed + np.arange(n_old)
            mask_of[inverse[pos[: 2 * kept][fresh]]] = self.n_masks + np.arange(int(fresh.sum()))
            rows = mask_of[inverse[pos[: 2 * kept]]]
            self.draws_a = np.r_[self.draws_a, rows[0::2]]
            self.draws_b = np.r_[self.draws_b, rows[1::2]]
            self.draw_stratum = np.r_[self.draw_stratum, strata[:kept]]
            self._masks.append(pairs[: 2 * kept][fresh])
            self._keys = np.concatenate([self._keys, keys[: 2 * kept][fresh]])
            self.n_masks += int(fresh.sum())
            added += int(fresh.sum())
        return added


def _row_keys(masks) -> np.ndarray:
    """One sortable key per boolean row: its packed bits, as one integer up to 64 features
    (sorting integers is several times faster) and as a void scalar beyond."""
    packed = np.packbits(masks, axis=1)
    if packed.shape[1] <= 8:
        wide = np.zeros((len(packed), 8), dtype=np.uint8)
        wide[:, : packed.shape[1]] = packed
        return wide.view(np.uint64).ravel()
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


class PlanRounds:
    """The rounds of a plan shared by every input of a call: round ``r`` is a snapshot of the plan
    after its ``r``-th extension (``n_samples="auto"`` doubles the sampled part each round), so
    inputs explained in later blocks meet exactly the plans the first block met."""

    def __init__(self, plan, cap, auto):
        self.plan, self.cap, self.auto = plan, cap, auto
        self.rounds = [plan.snapshot()]
        self.exhausted = False

    def growable(self, snapshot) -> bool:
        """Could a round follow ``snapshot``?"""
        if not self.auto or snapshot.exact or snapshot.n_masks >= self.cap:
            return False
        return not (self.exhausted and snapshot is self.rounds[-1])

    def __iter__(self):
        for r in itertools.count():
            if r == len(self.rounds):
                last = self.rounds[-1]
                if not self.growable(last):
                    return
                grow = min(max(last.n_masks - last.n_fixed, 2), self.cap - last.n_masks)  # double the sample
                if self.plan.extend(grow) == 0:
                    self.exhausted = True
                    return
                self.rounds.append(self.plan.snapshot())
            yield self.rounds[r]
