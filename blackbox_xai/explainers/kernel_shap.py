"""KernelSHAP: interventional Shapley values of a black-box model from a weighted regression.

Plan: coalitions z in {0,1}^M (True = the feature takes x's value, False = a background row's).
Whole coalition sizes are enumerated, smallest |z| and its complement size first, while the budget
covers them; the remaining sizes are sampled as strata (:mod:`~blackbox_xai.explainers.coalitions`),
every draw together with its complement (the middle size included, so the estimator is exact on
models with only pairwise interactions), duplicates merged. When the budget reaches ``2^M - 2`` every
coalition is enumerated and the values are exact.

Estimator: the interventional game is the weighted mean of one game per background row,
``v(z) = sum_b w_b v_b(z)`` with ``v_b(z) = f(x_z, b_notz)``, and Shapley values are linear in
the game. Under the identity link the background rows are split into ``n_designs`` groups, and
each group sees the plan's coalitions through its own random relabelling of the features: the
same number of model rows, but the groups' sampling errors no longer move together, so they
largely cancel in the average (on a 30-feature GBM with 50 background rows, 8 groups cut the
error at equal evaluations 2.2-fold; benchmarks/shap_bench.py). Each group's values are
the Shapley-kernel weighted least squares ``min sum_z k(z) (v_g(z) - v_g(0) - z.phi)^2``
subject to ``sum phi = v_g(1) - v_g(0)``, solved exactly by eliminating the last feature, and
averaged with the groups' background weights: efficiency holds exactly, and a model with only
pairwise interactions is still explained exactly. Under the logit link the game is the logit of
the mean, which is not a mean of per-row games, so one design serves every background row.

Standard errors: the sandwich (delta method) variance over the sampled pairs, per group,
combined as if the groups' errors were independent; enumerated coalitions contribute none.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg

from blackbox_xai._blas import single_blas_thread
from blackbox_xai._validation import (
    EXECUTION_CONSTRAINTS,
    TARGET,
    ArrayLike,
    Instance,
    Interval,
    Options,
    RandomState,
    check_array,
    resolve_target,
    seed_sequence,
    take_target,
)
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET
from blackbox_xai.explainers._base import Explainer
from blackbox_xai.explainers.coalitions import CoalitionPlan, PlanRounds
from blackbox_xai.explanation import Attribution
from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import BackgroundMasker

LINKS = ("identity", "logit")
_LOGIT_EPS = 1e-12


def solve_shapley_regression(masks, weights, y, delta, *, paired=False):
    """Constrained weighted least squares of KernelSHAP.

    Parameters
    ----------
    masks : bool (n, M)
    weights : (n,)
    y : (n, K)
        ``v(z) - v(0)`` per coalition.
    delta : (K,)
        ``v(1) - v(0)``; the values sum to it exactly.
    paired : bool
        Every coalition's complement is among ``masks`` with the same weight (true of a
        :class:`~blackbox_xai.explainers.coalitions.CoalitionPlan`). The design row of a
        complement is the opposite of its coalition's, so the normal matrix is twice that of the
        coalitions without the last feature: half the work.

    Returns
    -------
    phi : (M, K)
    design : (n, M-1), residuals : (n, K), gram_inv : (M-1, M-1)
        What :func:`sandwich_std_errors` needs.
    """
    last = masks[:, -1:]
    design = np.subtract(masks[:, :-1], last, dtype=np.float64)
    response = y - last * delta
    if paired:
        half = ~masks[:, -1]
        rows = design[half]  # 0/1: the last feature is out
        gram = 2.0 * ((rows * weights[half, None]).T @ rows)
    else:
        gram = (design * weights[:, None]).T @ design
    try:
        # Cholesky: the normal matrix is symmetric positive definite unless the design is rank
        # deficient; LAPACK's condition estimate from the factor is cheaper than an SVD
        factor = scipy.linalg.cho_factor(gram, lower=True, check_finite=False)
        rcond, info = scipy.linalg.lapack.dpocon(factor[0], np.abs(gram).sum(axis=0).max(), uplo="L")
        if info != 0 or not rcond >= 1e-12:
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        raise ValueError(
            f"{len(masks)} coalitions give a rank-deficient design for {masks.shape[1]} features; "
            f"raise n_samples (at least {2 * masks.shape[1]})"
        ) from None
    gram_inv = scipy.linalg.cho_solve(factor, np.eye(len(gram)), check_finite=False)
    theta = gram_inv @ (design.T @ (response * weights[:, None]))
    phi = np.vstack([theta, delta - theta.sum(axis=0)])
    return phi, design, response - design @ theta, gram_inv


def sandwich_std_errors(plan, design, residuals, gram_inv) -> np.ndarray:
    """Standard errors (M, K) of the values: the sandwich (delta-method) variance of the
    regression, from the spread of the drawn pairs' influences within each stratum.

    Draw ``d`` (a coalition ``a`` and its complement ``b``, weight ``h`` each) moves the solution
    of output ``k`` by ``X[d, j, k] = h (E_a[d, j] r_a[d, k] + E_b[d, j] r_b[d, k])
    = h E_a[d, j] (r_a[d, k] - r_b[d, k])``, with ``E = design @ gram_inv`` (its last column: the
    sum over features, i.e. the eliminated feature's negative; ``E_b = -E_a`` since a complement's
    design row is the opposite) and ``r`` the residuals. The variance is
    ``sum_s n_s / (n_s - 1) sum_{d in s} (X_d - mean_s X)^2`` over the strata; it is formed from
    sums of products (a few matrix products per stratum) instead of the ``(draws, M, K)`` array of
    influences. A stratum of one draw is centred on the mean over all draws.
    """
    n_draws = len(plan.draws_a)
    k = residuals.shape[1]
    if plan.exact:
        return np.zeros((plan.n_features, k))
    if n_draws < 2:
        return np.full((plan.n_features, k), np.nan)
    order = np.argsort(plan.draw_stratum, kind="stable")  # each stratum's draws as one slice
    a, b, strata = plan.draws_a[order], plan.draws_b[order], plan.draw_stratum[order]
    h = plan.draw_weights()[order][:, None]
    spread = np.hstack([gram_inv, gram_inv.sum(axis=1, keepdims=True)])
    ea = h * (design[a] @ spread)
    ra = residuals[a] - residuals[b]
    var = np.zeros((plan.n_features, k))
    sums, lone = np.zeros((plan.n_features, k)), []
    starts = np.flatnonzero(np.r_[True, strata[1:] != strata[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], n_draws]):
        xa, ya = ea[s:e], ra[s:e]
        square = (xa * xa).T @ (ya * ya)
        total = xa.T @ ya
        sums += total
        if e - s > 1:
            var += (e - s) / (e - s - 1) * np.maximum(square - total * total / (e - s), 0.0)
        else:
            lone.append((square, total))
    mean = sums / n_draws
    for square, total in lone:
        var += np.maximum(square - 2 * total * mean + mean * mean, 0.0)
    return np.sqrt(var)


def _apply_link(values, link):
    if link == "identity":
        return values
    if np.any(values < 0) or np.any(values > 1):
        raise ValueError("link='logit' needs model outputs in [0, 1] (probabilities); got values "
                         f"in [{values.min():.4g}, {values.max():.4g}]")
    p = np.clip(values, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(p / (1 - p))


class KernelShapExplainer(Explainer):
    """Interventional Shapley values of any model you can call, by KernelSHAP.

    Parameters
    ----------
    model : callable, sklearn estimator, torch module or Model
    background : array
        A background set ``(Nb, *input_shape)`` (masked features take each row's values and the
        outputs are averaged: interventional Shapley values) or one baseline ``(*input_shape)``.
        Keep it small (tens of rows): every coalition costs ``Nb`` model rows.
    n_samples : "auto" or int
        Coalitions to evaluate (besides the empty and full ones). An int at or above
        ``2^M - 2`` enumerates every coalition (exact values). "auto": start at
        ``min(2M + 256, max_samples)`` and double the sampled part until the largest standard
        error is at most ``tol`` or ``max_samples`` is reached.
    link : {"identity", "logit"}
        Explain the output, or its log-odds (outputs must be probabilities; clipped to
        [1e-12, 1 - 1e-12]).
    groups : None, tuple or int array
        Features: per element, a broadcast mask shape, or an integer group map (see
        :class:`~blackbox_xai.features.FeatureSpace`).
    target : None, int or "all"
        Output column; None: the class predicted for x; "all": every output from the same
        coalitions (values get a last axis over outputs).
    background_weights : array (Nb,), optional
        Non-negative weights of the background rows.
    tol : float, optional
        For ``n_samples="auto"``: the largest acceptable standard error, in output units. Default
        1% of ``|f(x) - E f(B)|`` (largest over the targets explained).
    max_samples : int
        Cap on coalitions for ``n_samples="auto"``.
    n_designs : int
        Under the identity link, split the background rows into this many groups (at most one
        per row), each seeing the coalitions through its own random relabelling of the
        features: same model evaluations, lower error (see the module docstring). 1 is the
        classic estimator, one design for every background row. The values of every coalition
        are kept per group, so memory grows with it.
    feature_names : list of str, optional
        Names of the features of a 1-D input, carried by each result (``Attribution.feature_names``).
        Default: the columns of a DataFrame given as input, background or training data, else the
        fitted scikit-learn model's ``feature_names_in_``.
    batch_size, executor, progress, memory_budget
        Execution settings (see :class:`~blackbox_xai.engine.Engine`).
    random_state : None, int, SeedSequence or Generator
        Drawn once per call; the same seed gives the same values for any batch size and
        executor, and ``explain_batch(X)[i]`` equals ``explain(X[i])`` (every row uses the same
        plan): bit for bit where the model sees the same calls, to about 1e-12 relative where a
        BLAS-backed model sees other ones.

    Notes
    -----
    No feature selection is ever applied (shap's default ``l1_reg`` truncates above 10 features).
    ``Attribution.info`` holds ``n_coalitions``, ``exact`` and ``link``.
    """

    _parameter_constraints = {
        "model": "no_validation",  # as_model checks it
        "background": [ArrayLike()],
        "n_samples": [Interval(int, 1), Options("auto")],
        "link": [Options(*LINKS)],
        "groups": [None, ArrayLike()],
        "target": TARGET,
        "feature_names": [None, Instance("a list of names", list, tuple, np.ndarray)],
        "background_weights": [None, ArrayLike()],
        "tol": [None, Interval(float, 0, closed="neither")],
        "max_samples": [Interval(int, 1)],
        "n_designs": [Interval(int, 1)],
        "random_state": [RandomState()],
        **EXECUTION_CONSTRAINTS,
    }

    def __init__(self, model, background, *, n_samples="auto", link="identity", groups=None,
                 target=None, feature_names=None, background_weights=None, tol=None, max_samples=2**14, n_designs=8,
                 batch_size=None, executor=None, progress=False, memory_budget=DEFAULT_MEMORY_BUDGET,
                 random_state=None):
        self.model = model
        self.background = background
        self.n_samples = n_samples
        self.link = link
        self.groups = groups
        self.target = target
        self.feature_names = feature_names
        self.background_weights = background_weights
        self.tol = tol
        self.max_samples = max_samples
        self.n_designs = n_designs
        self.batch_size = batch_size
        self.executor = executor
        self.progress = progress
        self.memory_budget = memory_budget
        self.random_state = random_state

    # -- validation ----------------------------------------------------------------------------
    def _background(self, input_shape, dtype):
        bg = check_array(self.background, "background", min_ndim=0)
        if bg.shape == tuple(input_shape):
            bg = bg[None]
        elif bg.shape[1:] != tuple(input_shape):
            raise ValueError(
                f"background has shape {bg.shape} but x has shape {tuple(input_shape)}; expected "
                f"a baseline {tuple(input_shape)} or a set (Nb, {', '.join(map(str, input_shape))})"
            )
        weights = self.background_weights
        if weights is not None:
            weights = check_array(weights, "background_weights")
            if weights.shape != (len(bg),) or np.any(weights < 0) or weights.sum() <= 0:
                raise ValueError(
                    f"background_weights must be {len(bg)} non-negative numbers with a positive "
                    f"sum, got shape {weights.shape}"
                )
        return bg.astype(dtype, copy=False), weights

    def _budgets(self, n_features):
        """(initial budget, cap, auto?) in coalitions other than the empty and full ones."""
        every = 2**n_features - 2 if n_features < 62 else np.iinfo(np.int64).max
        if self.n_samples == "auto":
            cap = min(int(self.max_samples), every)
            return min(2 * n_features + 256, cap), cap, True
        n = int(self.n_samples)
        return min(n, every), min(n, every), False

    # -- the run -------------------------------------------------------------------------------
    def _explain(self, X, targets, labels):
        link = self.link
        model = as_model(self.model)
        input_shape = X.shape[1:]
        dtype = self._float_dtype(X)
        background, bg_weights = self._background(input_shape, dtype)
        space = FeatureSpace(input_shape, self.groups)
        m = space.n_features
        rng = np.random.default_rng(seed_sequence(self.random_state))
        relabel = None
        designs = min(int(self.n_designs), len(background))
        if designs > 1 and link == "identity":
            relabel = rng.permuted(np.tile(np.arange(m), (designs, 1)), axis=1)
        engine = self._engine(model)
        masker = engine.prepare(BackgroundMasker(X.astype(dtype, copy=False), background, bg_weights, space,
                                                 relabel))
        budget, cap, auto = self._budgets(m)
        n = len(X)
        try:
            # v(1) per row, v(0) once
            ends = np.ones((n + 1, m), dtype=bool)
            ends[n] = False
            raw = engine.evaluate(masker, np.r_[np.arange(n), 0], ends, labels)
            runs = _Runs(masker, raw.reshape(n + 1, masker.n_groups, -1), link)
            targets = [resolve_target(self._target(t), out) for t, out in zip(targets, runs.raw_fx)]
            if m == 1:
                phi = [(runs.fx[i] - runs.base)[None, slice(None) if t == "all" else [t]] for i, t in enumerate(targets)]
                return [self._result(X[i], targets[i], phi[i], np.zeros_like(phi[i]), runs.base, runs.fx[i], space,
                                     2 * masker.rows_per_entry, None, link) for i in range(n)]
            plans = PlanRounds(CoalitionPlan(m, budget, rng), cap, auto)
            results = [None] * n
            # the values of every coalition are kept per group of background rows: explain the
            # inputs in blocks whose values fit in the memory budget
            block = max(1, self.memory_budget // (8 * cap * raw.shape[1]))  # raw: (n + 1, G * K)
            for first in range(0, n, block):
                rows = np.arange(first, min(first + block, n))
                for i, phi, se, evals, plan in self._explain_block(engine, masker, runs, plans, rows, targets, labels):
                    results[i] = self._result(X[i], targets[i], phi, se, runs.base, runs.fx[i], space, evals, plan, link)
        finally:
            engine.close()
        return results

    def _explain_block(self, engine, masker, runs, plans, rows, targets, labels):
        """Yield ``(row, phi, std_errors, n_evaluations, plan)`` for the inputs ``rows``: each
        runs through the plan's rounds until its largest standard error meets the tolerance
        (``n_samples="auto"``) or the plan stops growing."""
        v = np.zeros((len(rows), 0) + runs.base_g.shape)
        active = np.arange(len(rows))  # positions in rows
        evals = np.full(len(rows), 2 * masker.rows_per_entry, dtype=np.int64)  # v(1) and v(0)
        last = {}
        for plan in plans:
            new = plan.masks[v.shape[1]:]
            if len(new):
                out = engine.evaluate(masker, np.repeat(rows[active], len(new)), np.tile(new, (len(active), 1)),
                                      labels)
                grown = np.zeros((len(rows), plan.n_masks) + v.shape[2:])
                grown[:, : v.shape[1]] = v
                grown[active, v.shape[1]:] = runs.link(out).reshape((len(active), len(new)) + v.shape[2:])
                v = grown
                evals[active] += len(new) * masker.rows_per_entry
            weights = plan.weights()
            with single_blas_thread():
                for a in active:
                    last[a] = runs.solve(plan, weights, v[a], rows[a], targets[rows[a]])
            still = []
            for a in active:
                i, (phi, se) = rows[a], last[a]
                if plans.growable(plan) and not np.max(se) <= runs.tol(i, targets[i], self.tol):
                    still.append(a)
                else:
                    yield i, phi, se, evals[a], plan
            active = np.array(still, dtype=np.intp)
            if not len(active):
                return
        for a in active:  # the plan stopped growing before these met the tolerance
            yield rows[a], last[a][0], last[a][1], evals[a], plan

    def _result(self, x, target, phi, se, base, fx, space, n_evaluations, plan, link):
        shape = space.mask_shape if space.group_ids is None else (space.n_features,)
        if target != "all":
            phi, se = phi[:, 0], se[:, 0]
        else:
            shape = shape + (phi.shape[1],)
        group_ids, feature_map = self._group_info(space)
        return Attribution(
            phi.reshape(shape), std_errors=se.reshape(shape), base_value=_pick(base, target),
            output=_pick(fx, target), target=target, n_evaluations=n_evaluations,
            method="kernel_shap", x=x, group_ids=group_ids, feature_map=feature_map,
            info={"n_coalitions": 0 if plan is None else int(plan.n_masks),
                  "exact": True if plan is None else bool(plan.exact), "link": link},
        )


def _pick(values, target):
    picked = take_target(values, target)
    return picked.copy() if target == "all" else float(picked)


class _Runs:
    """The values at the full and empty coalitions, and the regression of one input.

    Values come per group of background rows (``G = masker.n_groups``), each group seeing the
    plan's coalitions through its own relabelling of the features (``masker.relabel``): one
    regression per group, whose solutions are mapped back to the features and averaged with the
    groups' background weights.
    """

    def __init__(self, masker, raw, link):
        self.link_name = link
        self.gw = masker.group_weights
        self.relabel = masker.relabel
        self.raw_fx = np.einsum("ngk,g->nk", raw[:-1], self.gw)
        ends = self.link(raw)
        self.fx_g, self.base_g = ends[:-1], ends[-1]  # (n, G, K), (G, K)
        self.fx = np.einsum("ngk,g->nk", self.fx_g, self.gw)
        self.base = self.gw @ self.base_g

    def link(self, values):
        return _apply_link(values, self.link_name)

    def tol(self, i, target, tol):
        if tol is not None:
            return tol
        return 0.01 * np.max(np.abs(take_target(self.fx[i] - self.base, target)))

    def solve(self, plan, weights, v, i, target):
        """``(phi, std_errors)``, each ``(M, k)``, from the values ``v`` (n_masks, G, K) of input
        ``i``."""
        cols = slice(None) if target == "all" else [target]
        y, delta = (v - self.base_g)[..., cols], (self.fx_g[i] - self.base_g)[:, cols]
        g, k = delta.shape
        psi, design, resid, gram_inv = solve_shapley_regression(plan.masks, weights, y.reshape(len(y), g * k),
                                                                delta.ravel(), paired=True)
        se = sandwich_std_errors(plan, design, resid, gram_inv)
        psi, se = psi.reshape(-1, g, k), se.reshape(-1, g, k)
        if self.relabel is None:
            return psi[:, 0], se[:, 0]
        # group g's feature j is the plan's feature relabel[g, j]
        back = self.relabel.T[:, :, None]
        phi = np.einsum("mgk,g->mk", np.take_along_axis(psi, back, axis=0), self.gw)
        var = np.einsum("mgk,g->mk", np.take_along_axis(se, back, axis=0) ** 2, self.gw**2)
        return phi, np.sqrt(var)
