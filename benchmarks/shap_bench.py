"""KernelSHAP accuracy and speed against shap's KernelExplainer, side by side in one run.

Setting: load_breast_cancer (30 features), a
GradientBoostingClassifier's margin (decision_function), 50 background rows. Ground truth:
interventional TreeSHAP (shap.TreeExplainer with the same background), exact for this model.

Printed per method: median relative error over the explained rows (L2 norm of the error over the
L2 norm of the true values), model rows evaluated per explanation, wall time per explanation, and
that time over the pure model time for the same rows (the rows the explainer sent, replayed
through the model with the same batching). That ratio is the median over interleaved pairs (one
explanation, then its replay, back to back; ``--repeats`` pairs per row); the last column gives
the ratio of the best times as well. Ours runs twice: with the default ``n_designs=8`` (groups of
background rows see their own relabelling of the coalitions) and with ``n_designs=1`` (one
design for every background row, the classic estimator).

Targets: at 2,048 coalitions our median error <= 0.5x shap's (shap with l1_reg=0, i.e. no feature
selection), and our time / pure model time <= 1.15.

Needs shap (not a dependency of blackbox-xai): ``pip install shap``.

    python benchmarks/shap_bench.py            # ~2 minutes on 2 cores
    python benchmarks/shap_bench.py --rows 5   # quicker
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10, help="rows explained (default 10)")
    parser.add_argument("--samples", type=int, default=2048, help="coalitions per explanation")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best of)")
    args = parser.parse_args()

    import shap
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    gbm = GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    background = X_train[:50]
    rows = X_test[: args.rows]
    margin = gbm.decision_function

    truth = shap.TreeExplainer(gbm, data=background, feature_perturbation="interventional",
                               model_output="raw").shap_values(rows)
    check = np.abs(truth.sum(axis=1) - (margin(rows) - margin(background).mean())).max()
    print(f"breast_cancer: {X.shape[1]} features, GBM margin, {len(background)} background rows, "
          f"{len(rows)} rows explained, {args.samples} coalitions; TreeSHAP efficiency gap {check:.1e}")

    # --- ours ---------------------------------------------------------------------------------
    def run_ours(n_designs):
        errors, wall, model_time, evals, pairs = [], 0.0, 0.0, 0, []
        for i, x in enumerate(rows):
            explainer = KernelShapExplainer(as_model(gbm, method="decision_function"), background,
                                            n_samples=args.samples, n_designs=n_designs, random_state=i)
            result = explainer.explain(x)
            model, recorder = recorded(gbm, method="decision_function")
            KernelShapExplainer(model, background, n_samples=args.samples, n_designs=n_designs,
                                random_state=i).explain(x)
            t, m = paired_times(lambda: explainer.explain(x), margin, recorder.batches, args.repeats)
            wall, model_time = wall + min(t), model_time + min(m)
            pairs += [a / b for a, b in zip(t, m)]
            evals += result.n_evaluations
            errors.append(rel_error(result.values, truth[i]))
        return errors, wall, model_time, evals, pairs

    ours_err, ours_time, ours_model, ours_evals, ours_pairs = run_ours(8)
    shared_err, shared_time, shared_model, _, shared_pairs = run_ours(1)  # one design for every background row

    # --- shap ---------------------------------------------------------------------------------
    def run_shap(l1_reg):
        errors, wall, model_time, evals, pairs = [], 0.0, 0.0, 0, []
        for i, x in enumerate(rows):
            np.random.seed(i)  # shap samples from NumPy's global RNG
            recorder = Recorder(margin)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kernel = shap.KernelExplainer(recorder, background)
                values = kernel.shap_values(x, nsamples=args.samples, l1_reg=l1_reg, silent=True)
            errors.append(rel_error(np.asarray(values).ravel(), truth[i]))
            evals += recorder.n_rows

            def again():
                np.random.seed(i)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return shap.KernelExplainer(margin, background).shap_values(
                        x, nsamples=args.samples, l1_reg=l1_reg, silent=True)

            t, m = paired_times(again, margin, recorder.batches, args.repeats)
            wall, model_time = wall + min(t), model_time + min(m)
            pairs += [a / b for a, b in zip(t, m)]
        return errors, wall, model_time, evals, pairs

    shap_err, shap_time, shap_model, shap_evals, shap_pairs = run_shap(0)
    dflt_err = run_shap("num_features(10)")[0]

    n = len(rows)
    print(f"\n{'method':<34}{'median rel err':>15}{'evals/row':>11}{'ms/row':>9}{'/ model':>9}{'(best)':>8}")
    for name, err, evals_, time_, pairs_, model_ in (
            ("blackbox-xai KernelShapExplainer", ours_err, ours_evals, ours_time, ours_pairs, ours_model),
            ("  the same, n_designs=1", shared_err, ours_evals, shared_time, shared_pairs, shared_model),
            ("shap KernelExplainer l1_reg=0", shap_err, shap_evals, shap_time, shap_pairs, shap_model)):
        print(f"{name:<34}{np.median(err):>15.4f}{evals_ // n:>11,}{1e3 * time_ / n:>9.1f}"
              f"{np.median(pairs_):>9.3f}{time_ / model_:>8.3f}")
    print(f"{'shap KernelExplainer default l1_reg':<34}{np.median(dflt_err):>15.4f}")
    print(f"\nerror ratio ours / shap (l1_reg=0): {np.median(ours_err) / np.median(shap_err):.3f}   "
          f"(target <= 0.5)")
    print(f"time / pure model time, ours: {np.median(ours_pairs):.3f}, median of {len(ours_pairs)} interleaved "
          f"pairs (target <= 1.15; best times: {ours_time / ours_model:.3f}); wall time ours / shap: "
          f"{ours_time / shap_time:.3f}")


if __name__ == "__main__":
    main()
