"""KernelSHAP: the exactness tests of specs/perturbation.md, standard errors, auto budget, errors."""
import itertools
from math import factorial

import numpy as np
import pytest

from blackbox_xai import KernelShapExplainer
from blackbox_xai.explainers.coalitions import CoalitionPlan, size_weights
from blackbox_xai.explainers.kernel_shap import sandwich_std_errors, solve_shapley_regression

RNG = np.random.default_rng(11)


def brute_force_shapley(f, x, background):
    """Interventional Shapley values by the permutation formula over all 2^M coalitions."""
    m = len(x)
    masks = np.array(list(itertools.product([False, True], repeat=m)))
    v = np.array([f(np.where(z, x, background)).mean() for z in masks])
    index = {tuple(z): i for i, z in enumerate(masks)}
    phi = np.zeros(m)
    for z, vz in zip(masks, v):
        s = int(z.sum())
        for i in np.flatnonzero(~z):
            with_i = z.copy()
            with_i[i] = True
            phi[i] += factorial(s) * factorial(m - s - 1) / factorial(m) * (v[index[tuple(with_i)]] - vz)
    return phi


def pairwise_model(m, rng):
    c = np.triu(rng.normal(size=(m, m)), 1)
    return c, lambda b: np.einsum("ni,ij,nj->n", b, c, b)


def pairwise_shapley(c, x, background):
    """Closed form for f = sum_{i<j} c_ij x_i x_j: each term is a two-player game."""
    mu, second = background.mean(0), background.T @ background / len(background)
    sym = c + c.T
    term = sym * ((x[:, None] * mu[None] - second) + (x[:, None] * x[None] - mu[:, None] * x[None]))
    np.fill_diagonal(term, 0.0)
    return 0.5 * term.sum(axis=1)


@pytest.mark.parametrize("m", [20, 30, 64])
def test_linear_model_exact_at_any_full_rank_budget(m):
    w, background, x = RNG.normal(size=m), RNG.normal(size=(10, m)), RNG.normal(size=m)
    result = KernelShapExplainer(lambda b: b @ w + 3.0, background, n_samples=3 * m, random_state=0).explain(x)
    np.testing.assert_allclose(result.values, w * (x - background.mean(0)), atol=1e-10)
    assert result.n_evaluations == (3 * m + 2) * len(background)
    assert not result.info["exact"]


def test_additive_model():
    m = 12
    background, x = RNG.normal(size=(8, m)), RNG.normal(size=m)

    def g(b):
        return np.sin(b) + b**2 * np.arange(m)

    result = KernelShapExplainer(lambda b: g(b).sum(axis=1), background, n_samples=100, random_state=1).explain(x)
    np.testing.assert_allclose(result.values, g(x) - g(background).mean(0), atol=1e-10)


@pytest.mark.parametrize("link", ["identity", "logit"])
def test_efficiency(link):
    m = 15
    w1, w2 = RNG.normal(size=(m, 8)), RNG.normal(size=8)

    def proba(b):
        p = 1 / (1 + np.exp(-np.tanh(b @ w1) @ w2))
        return np.c_[1 - p, p]

    background, x = RNG.normal(size=(6, m)), RNG.normal(size=m)
    result = KernelShapExplainer(proba, background, n_samples=150, link=link, target=1, random_state=2).explain(x)
    g = (lambda p: np.log(p / (1 - p))) if link == "logit" else (lambda p: p)
    assert abs(result.values.sum() - (g(proba(x[None])[0, 1]) - g(proba(background)[:, 1].mean()))) < 1e-10
    assert result.output == pytest.approx(g(proba(x[None])[0, 1]), abs=1e-12)


@pytest.mark.parametrize("m", [13, 14, 15, 16])
def test_pairwise_interactions_exact_with_sampling(m):
    rng = np.random.default_rng(m)
    c, f = pairwise_model(m, rng)
    background, x = rng.normal(size=(7, m)), rng.normal(size=m)
    result = KernelShapExplainer(f, background, n_samples=300, random_state=0).explain(x)
    assert not result.info["exact"]
    np.testing.assert_allclose(result.values, pairwise_shapley(c, x, background), atol=1e-10)


@pytest.mark.parametrize("m", [14, 16])
def test_unpaired_middle_size_is_not_exact(m):
    """Companion: dropping the complements at the middle size (shap's gap) breaks exactness on even
    M, so the test above would catch it."""
    rng = np.random.default_rng(m)
    c, f = pairwise_model(m, rng)
    background, x = rng.normal(size=(7, m)), rng.normal(size=m)
    plan = CoalitionPlan(m, 300, np.random.default_rng(0))
    masks = plan.masks
    weights = plan.weights()
    middle = np.asarray(plan.draws_b)[masks[plan.draws_b].sum(axis=1) == m // 2]
    weights[middle] = 0.0
    v = np.array([f(np.where(z, x, background)).mean() for z in masks])
    base, fx = f(background).mean(), f(x[None])[0]
    phi = solve_shapley_regression(masks, weights, (v - base)[:, None], np.array([fx - base]))[0][:, 0]
    assert np.abs(phi - pairwise_shapley(c, x, background)).max() > 1e-6


@pytest.mark.parametrize("m", [6, 10])
def test_full_enumeration_equals_brute_force(m):
    w1, w2 = RNG.normal(size=(m, 5)), RNG.normal(size=5)

    def f(b):
        return np.tanh(b @ w1) @ w2

    background, x = RNG.normal(size=(4, m)), RNG.normal(size=m)
    result = KernelShapExplainer(f, background, n_samples=2**m, random_state=0).explain(x)
    assert result.info["exact"] and result.info["n_coalitions"] == 2**m - 2
    np.testing.assert_array_equal(result.std_errors, 0.0)
    np.testing.assert_allclose(result.values, brute_force_shapley(f, x, background), atol=1e-10)


def test_brute_force_m14_on_a_fitted_model():
    from sklearn.ensemble import GradientBoostingRegressor

    X = RNG.normal(size=(200, 14))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + X[:, 3]
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    background, x = X[:3], X[10]
    result = KernelShapExplainer(model, background, n_samples=2**14, random_state=0).explain(x)
    np.testing.assert_allclose(result.values, brute_force_shapley(model.predict, x, background), atol=1e-10)


def test_null_and_symmetric_features():
    m = 10

    def f(b):  # feature 9 is ignored; features 0 and 1 enter symmetrically
        return np.tanh(b[:, 0] + b[:, 1]) * b[:, 2] + b[:, 0] * b[:, 1] + np.sin(b[:, 3:9]).sum(axis=1)

    background = RNG.normal(size=(5, m))
    background[:, 1] = background[:, 0]
    x = RNG.normal(size=m)
    x[1] = x[0]
    result = KernelShapExplainer(f, background, n_samples=2**m, random_state=0).explain(x)
    assert result.values[9] == pytest.approx(0.0, abs=1e-12)
    assert result.values[0] == pytest.approx(result.values[1], abs=1e-10)


def test_all_targets_from_the_same_coalitions():
    m = 9
    w = RNG.normal(size=(m, 3))

    def f(b):
        e = np.exp(np.tanh(b @ w))
        return e / e.sum(axis=1, keepdims=True)

    background, x = RNG.normal(size=(5, m)), RNG.normal(size=m)
    explainer = KernelShapExplainer(f, background, n_samples=60, random_state=4)
    both = explainer.explain(x, target="all")
    assert both.values.shape == (m, 3) and both.base_value.shape == (3,)
    for k in range(3):
        one = explainer.explain(x, target=k)
        np.testing.assert_allclose(both.values[:, k], one.values, atol=1e-12)
        np.testing.assert_allclose(both.std_errors[:, k], one.std_errors, atol=1e-12)
    assert explainer.explain(x).target == int(np.argmax(f(x[None])[0]))


def test_groups_map_and_broadcast_mask():
    x = RNG.normal(size=(2, 4, 4))
    background = RNG.normal(size=(3, 2, 4, 4))
    w = RNG.normal(size=(2, 4, 4))

    def f(b):
        return b.reshape(len(b), -1) @ w.ravel()

    per_pixel = KernelShapExplainer(f, background, groups=(1, 4, 4), n_samples=200, random_state=0).explain(x)
    assert per_pixel.values.shape == (1, 4, 4)
    np.testing.assert_allclose(per_pixel.values[0], (w * (x - background.mean(0))).sum(axis=0), atol=1e-10)
    blocks = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 2, axis=0), 2, axis=1)
    quads = KernelShapExplainer(f, background, groups=blocks, n_samples=2**4, random_state=0).explain(x)
    contrib = w * (x - background.mean(0))
    assert quads.values.shape == (4,)
    np.testing.assert_allclose(quads.values, [contrib[:, blocks == g].sum() for g in range(4)], atol=1e-10)
    assert quads.to_input().shape == x.shape


def _nonlinear_case(m=12):
    rng = np.random.default_rng(5)
    w1, w2 = rng.normal(size=(m, 16)), rng.normal(size=16)
    return (lambda b: np.tanh(b @ w1) @ w2), rng.normal(size=(5, m)), rng.normal(size=m)


def check_std_errors_calibrated(runs, inflate=1.0):
    """Reported standard errors agree with the spread of the values over seeds (within 40%)."""
    spread = np.std([r.values for r in runs], axis=0)
    ratio = inflate * np.mean([r.std_errors for r in runs], axis=0) / spread
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio


@pytest.fixture(scope="module")
def seed_runs():
    f, background, x = _nonlinear_case()
    return [KernelShapExplainer(f, background, n_samples=300, random_state=s).explain(x) for s in range(40)]


def test_std_errors_match_the_spread_over_seeds(seed_runs):
    check_std_errors_calibrated(seed_runs)


@pytest.mark.parametrize("inflate", [0.5, 2.0])
def test_calibration_check_catches_wrong_std_errors(seed_runs, inflate):
    with pytest.raises(AssertionError):
        check_std_errors_calibrated(seed_runs, inflate)


def test_auto_stops_at_the_tolerance_or_the_cap():
    f, background, x = _nonlinear_case()
    tight = KernelShapExplainer(f, background, tol=0.05, random_state=0).explain(x)
    assert tight.std_errors.max() <= 0.05
    loose = KernelShapExplainer(f, background, tol=0.5, random_state=0).explain(x)
    assert loose.info["n_coalitions"] < tight.info["n_coalitions"]
    capped = KernelShapExplainer(f, background, tol=1e-9, max_samples=600, random_state=0).explain(x)
    assert capped.info["n_coalitions"] <= 600 and capped.std_errors.max() > 1e-9


def test_plan_weights_have_the_kernel_mass():
    plan = CoalitionPlan(10, 400, np.random.default_rng(0))
    sizes = plan.masks.sum(axis=1)
    mass = size_weights(10)
    got = np.bincount(sizes, weights=plan.weights(), minlength=10)[1:]
    enumerated = [s for s in range(1, 10) if min(s, 10 - s) not in plan.sample_sizes]
    np.testing.assert_allclose(got[np.array(enumerated) - 1], mass[np.array(enumerated) - 1])
    assert got.sum() == pytest.approx(1.0)
    assert len(np.unique(plan.masks, axis=0)) == len(plan.masks) == 400


def test_single_baseline_and_weights():
    m = 6
    w = RNG.normal(size=m)
    x, baseline = RNG.normal(size=m), RNG.normal(size=m)
    result = KernelShapExplainer(lambda b: b @ w, baseline, n_samples=64).explain(x)
    np.testing.assert_allclose(result.values, w * (x - baseline), atol=1e-12)
    background = RNG.normal(size=(3, m))
    weights = np.array([1.0, 0.0, 3.0])
    weighted = KernelShapExplainer(lambda b: b @ w, background, background_weights=weights, n_samples=64).explain(x)
    np.testing.assert_allclose(weighted.values, w * (x - weights @ background / 4), atol=1e-12)


def test_errors():
    f = lambda b: b.sum(axis=1)  # noqa: E731
    x = np.ones(5)
    with pytest.raises(ValueError, match="background has shape"):
        KernelShapExplainer(f, np.ones((3, 4))).explain(x)
    with pytest.raises(ValueError, match="n_samples"):
        KernelShapExplainer(f, np.zeros(5), n_samples="many").explain(x)
    with pytest.raises(ValueError, match="rank-deficient"):
        KernelShapExplainer(f, np.zeros(5), n_samples=2, random_state=0).explain(x)
    with pytest.raises(ValueError, match="link='logit' needs"):
        KernelShapExplainer(lambda b: b.sum(axis=1) + 5, np.zeros(5), link="logit").explain(x)
    with pytest.raises(ValueError, match="background_weights"):
        KernelShapExplainer(f, np.zeros((2, 5)), background_weights=[1.0]).explain(x)
    with pytest.raises(ValueError, match="target"):
        KernelShapExplainer(f, np.zeros(5), target="most").explain(x)


def test_plan_stops_when_the_sampled_sizes_are_exhausted():
    # 14 coalitions exist for M = 4; a budget of 13 cannot enumerate size 2 (6 coalitions) after
    # size 1 (8): sampling must stop at the 6 distinct size-2 coalitions, not loop forever
    plan = CoalitionPlan(4, 13, np.random.default_rng(0))
    assert plan.n_masks <= 13 and len(np.unique(plan.masks, axis=0)) == plan.n_masks
    before = plan.n_masks
    assert before + plan.extend(100) == plan.n_masks <= 14
    assert len(np.unique(plan.masks, axis=0)) == plan.n_masks


def _tanh_case(m=12, nb=10, seed=7):
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=(m, 16)), rng.normal(size=16)
    return (lambda b: np.tanh(b @ w1) @ w2), rng.normal(size=(nb, m)), rng.normal(size=(4, m))


def test_relabelled_designs_cut_the_error_at_equal_evaluations():
    f, background, X = _tanh_case()
    truth = brute_force_shapley(f, X[0], background)

    def error(n_designs):
        runs = [KernelShapExplainer(f, background, n_samples=200, n_designs=n_designs, random_state=s).explain(X[0])
                for s in range(12)]
        assert {r.n_evaluations for r in runs} == {202 * len(background)}
        return np.mean([np.linalg.norm(r.values - truth) for r in runs])

    assert error(5) < 0.8 * error(1)  # measured: 0.146 vs 0.220


def test_logit_link_uses_one_design_for_every_background_row():
    """The logit of the mean is not a mean of per-row games: n_designs must not change it."""
    f, background, X = _tanh_case(nb=6)

    def proba(b):
        p = 1 / (1 + np.exp(-f(b)))
        return np.c_[1 - p, p]

    runs = [KernelShapExplainer(proba, background, n_samples=150, link="logit", target=1, n_designs=d,
                                random_state=3).explain(X[0]) for d in (1, 6)]
    np.testing.assert_array_equal(runs[0].values, runs[1].values)


@pytest.mark.parametrize("n_samples", [150, "auto"])
def test_inputs_explained_in_blocks_match_one_block(n_samples):
    """A small memory budget explains the inputs a few at a time; every input still meets the
    plan's rounds in the same order, so the values equal those of one block (and of explain)."""
    f, background, X = _tanh_case()
    kwargs = dict(n_samples=n_samples, tol=0.02, random_state=5)
    whole = KernelShapExplainer(f, background, **kwargs).explain_batch(X)
    blocks = KernelShapExplainer(f, background, memory_budget=4096, **kwargs).explain_batch(X)
    if n_samples == "auto":
        assert len({r.info["n_coalitions"] for r in whole}) > 1  # rows stopped at different rounds
    for a, b in zip(whole, blocks):
        np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=0, atol=1e-12)
        assert a.n_evaluations == b.n_evaluations and a.info == b.info
    single = KernelShapExplainer(f, background, **kwargs).explain(X[2])
    np.testing.assert_allclose(single.values, whole[2].values, rtol=0, atol=1e-12)


def test_n_designs_is_checked():
    f, background, X = _tanh_case()
    with pytest.raises(ValueError, match="n_designs"):
        KernelShapExplainer(f, background, n_designs=0).explain(X[0])


@pytest.mark.parametrize("m, budget", [(20, 46), (12, 300)])
def test_sandwich_std_errors_equal_the_influence_formula(m, budget):
    """The product-sum form equals the plain one: influences (draws, M, K), centred within each
    stratum (a stratum of one draw on the overall mean), scaled by n / (n - 1)."""
    plan = CoalitionPlan(m, budget, np.random.default_rng(m))
    rng = np.random.default_rng(1)
    y = rng.normal(size=(plan.n_masks, 2)) + plan.masks @ rng.normal(size=(m, 2))
    _, design, resid, gram_inv = solve_shapley_regression(plan.masks, plan.weights(), y, rng.normal(size=2))
    a, b, strata = plan.draws_a, plan.draws_b, plan.draw_stratum
    h = plan.draw_weights()[:, None, None]
    scores = h * (design[a][:, :, None] * resid[a][:, None] + design[b][:, :, None] * resid[b][:, None])
    influence = np.einsum("dmk,mj->djk", scores, gram_inv)
    influence = np.concatenate([influence, influence.sum(axis=1, keepdims=True)], axis=1)
    counts = np.bincount(strata)
    assert counts.min() == 1 or m == 12
    centred = np.empty_like(influence)
    for s in np.unique(strata):
        d = strata == s
        centre = influence[d].mean(axis=0) if counts[s] > 1 else influence.mean(axis=0)
        centred[d] = (influence[d] - centre) * (np.sqrt(counts[s] / (counts[s] - 1)) if counts[s] > 1 else 1)
    expected = np.sqrt((centred**2).sum(axis=0))
    np.testing.assert_allclose(sandwich_std_errors(plan, design, resid, gram_inv), expected, rtol=1e-10)


def test_sklearn_calls_of_cache_size_give_the_values_of_one_call():
    """A scikit-learn model is called in chunks of at most ``chunk_bytes`` of input; the values
    are bit-identical to those of one call per explanation."""
    from sklearn.ensemble import GradientBoostingRegressor

    from blackbox_xai import as_model

    X = RNG.normal(size=(80, 6))
    gbm = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
    runs, sizes = {}, {None: [], 4096: []}
    for chunk in (None, 4096):
        model = as_model(gbm, chunk_bytes=chunk)
        model._predict = lambda batch, seen=sizes[chunk], f=model._predict: seen.append(batch.nbytes) or f(batch)
        runs[chunk] = KernelShapExplainer(model, X[:20], n_samples=40, random_state=1).explain(X[30])
    assert max(sizes[4096]) <= 4096 < max(sizes[None])
    np.testing.assert_array_equal(runs[4096].values, runs[None].values)
    assert runs[4096].n_evaluations == runs[None].n_evaluations
