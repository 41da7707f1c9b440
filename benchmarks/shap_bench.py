"""KernelSHAP accuracy and speed against shap's KernelExplainer, side by side in one run.

Cases (``--case``, default all):

- ``breast_cancer``: load_breast_cancer (30 features), a GradientBoostingClassifier's margin
  (decision_function), 50 background rows;
- ``rf64``: a random forest's probability behind a plain Python function (the adapter cannot know
  the forest's float32 input dtype), 64 features (make_classification: 20 informative, 10
  redundant), 30 background rows;
- ``gbm80``: a GradientBoostingRegressor's prediction, 80 features (make_regression, 30
  informative), 30 background rows.

Ground truth: interventional TreeSHAP (shap.TreeExplainer with the same background), exact for
these models. Printed per method: median relative error over the explained rows (L2 norm of the
error over the L2 norm of the true values), model rows evaluated per explanation, wall time per
explanation, and that time over the pure model time for the same rows (the rows the explainer
sent, replayed through the model with the same batching). That ratio is the median over
interleaved pairs (one explanation, then its replay, back to back; ``--repeats`` pairs per row);
the last column gives the ratio of the best times as well. Ours runs twice: with the default
``n_designs=8`` (groups of background rows see their own relabelling of the coalitions) and with
``n_designs=1`` (one design for every background row, the classic estimator).

Targets: at 2,048 coalitions our median error <= 0.5x shap's (shap with l1_reg=0, i.e. no feature
selection), and our time / pure model time <= 1.15, on every case.

Needs shap (not a dependency of blackbox-xai): ``pip install shap``.

    python benchmarks/shap_bench.py                       # ~10 minutes on 2 cores
    python benchmarks/shap_bench.py --case rf64 --rows 5  # one case, quicker
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import Recorder, paired_times, recorded  # noqa: E402

from blackbox_xai import KernelShapExplainer, as_model  # noqa: E402


def rel_error(values, truth):
    return float(np.linalg.norm(values - truth) / np.linalg.norm(truth))


def make_case(name):
    """``(description, model for ours, adapter options, plain function, background, rows, truth)``."""
    import shap
    from sklearn.datasets import load_breast_cancer, make_classification, make_regression
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier
    from sklearn.model_selection import train_test_split

    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
        tree = GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
        ours, options, fn, n_bg = tree, {"method": "decision_function"}, tree.decision_function, 50
        what, output = "GBM margin", "raw"
    elif name == "rf64":
        X, y = make_classification(n_samples=3000, n_features=64, n_informative=20, n_redundant=10, random_state=0)
        X_train, X_test, y_train = X[:2000], X[2000:], y[:2000]
        tree = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(X_train, y_train)

        def fn(batch):  # a plain function: its input dtype is unknown to the adapter
            return tree.predict_proba(batch)[:, 1]

        ours, options, n_bg, what, output = fn, {}, 30, "random forest P(class 1), a plain function", "probability"
    elif name == "gbm80":
        X, y = make_regression(n_samples=3000, n_features=80, n_informative=30, noise=1.0, random_state=0)
        X_train, X_test, y_train = X[:2000], X[2000:], y[:2000]
        tree = GradientBoostingRegressor(random_state=0).fit(X_train, y_train)
        ours, options, fn, n_bg, what, output = tree, {}, tree.predict, 30, "GBM regression", "raw"
    else:
        raise ValueError(f"unknown case {name!r}")
    background = X_train[:n_bg]
    explainer = shap.TreeExplainer(tree, data=background, feature_perturbation="interventional",
                                   model_output=output if name != "gbm80" else "raw")
    return (f"{name}: {X.shape[1]} features, {what}, {n_bg} background rows", ours, options, fn, background,
            X_test, explainer, name)


def truth_of(explainer, name, rows):
    values = explainer.shap_values(rows)
    if isinstance(values, list):
        values = values[1]
    elif values.ndim == 3:
        values = values[..., 1]
    return values


def bench(case, args):
    import shap

    description, model, options, fn, background, X_test, tree_explainer, name = make_case(case)
    rows = X_test[: args.rows]
    truth = truth_of(tree_explainer, name, rows)
    check = np.abs(truth.sum(axis=1) - (fn(rows) - fn(background).mean())).max()
    print(f"\n## {description}; {len(rows)} rows explained, {args.samples} coalitions; TreeSHAP efficiency "
          f"gap {check:.1e}")

    # --- ours ---------------------------------------------------------------------------------
    def run_ours(n_designs):
        errors, wall, model_time, evals, pairs = [], 0.0, 0.0, 0, []
        for i, x in enumerate(rows):
            explainer = KernelShapExplainer(as_model(model, **options), background, n_samples=args.samples,
                                            n_designs=n_designs, random_state=i, target=0)
            result = explainer.explain(x)
            adapted, recorder = recorded(model, **options)
            KernelShapExplainer(adapted, background, n_samples=args.samples, n_designs=n_designs,
                                random_state=i, target=0).explain(x)
            t, m = paired_times(lambda: explainer.explain(x), fn, recorder.batches, args.repeats)
            wall, model_time = wall + min(t), model_time + min(m)
            pairs += [a / b for a, b in zip(t, m)]
            evals += result.n_evaluations
            errors.append(rel_error(result.values, truth[i]))
        return errors, wall, model_time, evals, pairs

    ours_err, ours_time, ours_model, ours_evals, ours_pairs = run_ours(8)
    shared_err, shared_time, shared_model, _, shared_pairs = run_ours(1)  # one design for every background row

    # --- shap ---------------------------------------------------------------------------------
    def run_shap(l1_reg, timed=True):
        errors, wall, model_time, evals, pairs = [], 0.0, 0.0, 0, []
        for i, x in enumerate(rows):
            np.random.seed(i)  # shap samples from NumPy's global RNG
            recorder = Recorder(fn)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kernel = shap.KernelExplainer(recorder, background)
                values = kernel.shap_values(x, nsamples=args.samples, l1_reg=l1_reg, silent=True)
            errors.append(rel_error(np.asarray(values).ravel(), truth[i]))
            evals += recorder.n_rows
            if not timed:
                continue

            def again():
                np.random.seed(i)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return shap.KernelExplainer(fn, background).shap_values(
                        x, nsamples=args.samples, l1_reg=l1_reg, silent=True)

            t, m = paired_times(again, fn, recorder.batches, args.repeats)
            wall, model_time = wall + min(t), model_time + min(m)
            pairs += [a / b for a, b in zip(t, m)]
        return errors, wall, model_time, evals, pairs

    shap_err, shap_time, shap_model, shap_evals, shap_pairs = run_shap(0)
    dflt_err = run_shap("num_features(10)", timed=False)[0]

    n = len(rows)
    print(f"\n{'method':<34}{'median rel err':>15}{'evals/row':>11}{'ms/row':>9}{'/ model':>9}{'(best)':>8}")
    for label, err, evals_, time_, pairs_, model_ in (
            ("blackbox-xai KernelShapExplainer", ours_err, ours_evals, ours_time, ours_pairs, ours_model),
            ("  the same, n_designs=1", shared_err, ours_evals, shared_time, shared_pairs, shared_model),
            ("shap KernelExplainer l1_reg=0", shap_err, shap_evals, shap_time, shap_pairs, shap_model)):
        print(f"{label:<34}{np.median(err):>15.4f}{evals_ // n:>11,}{1e3 * time_ / n:>9.1f}"
              f"{np.median(pairs_):>9.3f}{time_ / model_:>8.3f}")
    print(f"{'shap KernelExplainer default l1_reg':<34}{np.median(dflt_err):>15.4f}")
    print(f"\nerror ratio ours / shap (l1_reg=0): {np.median(ours_err) / np.median(shap_err):.3f}   "
          f"(target <= 0.5)")
    print(f"time / pure model time, ours: {np.median(ours_pairs):.3f}, median of {len(ours_pairs)} interleaved "
          f"pairs (target <= 1.15; best times: {ours_time / ours_model:.3f}); wall time ours / shap: "
          f"{ours_time / shap_time:.3f}")
    print(f"time outside the model per model row: ours {1e6 * (ours_time - ours_model) / ours_evals:.3f} us, "
          f"shap {1e6 * (shap_time - shap_model) / shap_evals:.3f} us (best times)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=("breast_cancer", "rf64", "gbm80"), action="append",
                        help="one case (repeatable; default: all three)")
    parser.add_argument("--rows", type=int, default=10, help="rows explained per case (default 10)")
    parser.add_argument("--samples", type=int, default=2048, help="coalitions per explanation")
    parser.add_argument("--repeats", type=int, default=3, help="timing pairs per row")
    args = parser.parse_args()
    for case in args.case or ("breast_cancer", "rf64", "gbm80"):
        bench(case, args)


if __name__ == "__main__":
    main()
