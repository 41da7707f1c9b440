"""LIME (tabular) speed and fidelity against the lime package, side by side in one run.

Setting: load_breast_cancer (30 features), a GradientBoostingClassifier's probabilities, 5,000
samples per explanation, the same surrogate on both sides, in two settings:

* continuous: samples around the instance (ours by default; lime with
  ``discretize_continuous=False, sample_around_instance=True``);
* quartile: interpretable features "in the same quartile as x" (lime's default; ours with
  ``discretize="quartile"``).

Printed per setting: wall time per explanation, the share of it spent in the model, the
surrogate's weighted R^2, and the ratio lime time / our time, with the bound an explainer with no
overhead at all would reach (lime's time / lime's model time), the share of that bound reached,
and our time outside the model per sample.

Targets: ours >= 3x faster than lime at equal samples (specs/perturbation.md); the share of the
bound >= 0.85 per explain() and >= 0.95 with explain_batch.

Needs lime (not a dependency of blackbox-xai): ``pip install lime``.

    python benchmarks/lime_bench.py            # ~1 min on 2 cores
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import Recorder, best_time, recorded, replay_time  # noqa: E402

from blackbox_xai import LimeExplainer  # noqa: E402


SETTINGS = {  # name: (our LimeExplainer options, lime's LimeTabularExplainer options)
    "continuous": ({}, {"discretize_continuous": False, "sample_around_instance": True}),
    "quartile": ({"discretize": "quartile"}, {"discretize_continuous": True, "discretizer": "quartile"}),
}


def compare(setting, proba, X_train, rows, args):
    """Figures for one setting: ours and lime explaining the same rows, interleaved."""
    from lime.lime_tabular import LimeTabularExplainer

    ours_options, lime_options = SETTINGS[setting]
    m = X_train.shape[1]
    ours_t = ours_m = lime_t = lime_m = 0.0
    ours_r2, lime_r2 = [], []
    for i, x in enumerate(rows):
        model, recorder = recorded(proba)
        explainer = LimeExplainer(model, X_train, n_samples=args.samples, target=1, random_state=i,
                                  **ours_options)
        ours_r2.append(explainer.explain(x).info["score"])
        ours_m += replay_time(proba, recorder.batches, args.repeats)
        explainer.model = proba
        ours_t += best_time(lambda: explainer.explain(x), args.repeats)[0]

        lime_recorder = Recorder(proba)
        peer = LimeTabularExplainer(X_train, random_state=i, **lime_options)
        exp = peer.explain_instance(x, lime_recorder, labels=(1,), num_features=m, num_samples=args.samples)
        lime_r2.append(exp.score)
        lime_m += replay_time(proba, lime_recorder.batches, args.repeats)
        lime_t += best_time(lambda: peer.explain_instance(x, proba, labels=(1,), num_features=m,
                                                          num_samples=args.samples), args.repeats)[0]
    batch = LimeExplainer(proba, X_train, n_samples=args.samples, target=1, random_state=0, **ours_options)
    batch_t = best_time(lambda: batch.explain_batch(rows), args.repeats)[0]
    n = len(rows)
    print(f"\n{setting}")
    print(f"  {'blackbox-xai LimeExplainer':<28}{1e3 * ours_t / n:>9.1f}{ours_m / ours_t:>13.0%}"
          f"{np.median(ours_r2):>12.3f}")
    print(f"  {'  same, explain_batch':<28}{1e3 * batch_t / n:>9.1f}")
    print(f"  {'lime LimeTabularExplainer':<28}{1e3 * lime_t / n:>9.1f}{lime_m / lime_t:>13.0%}"
          f"{np.median(lime_r2):>12.3f}")
    bound = lime_t / lime_m
    print(f"  speed-up over lime: {lime_t / ours_t:.2f}x per explain(), {lime_t / batch_t:.2f}x with "
          f"explain_batch (target >= 3; bound with zero overhead: lime time / model time = {bound:.2f}x)")
    print(f"  share of the bound: {lime_t / ours_t / bound:.2f} per explain() (target >= 0.85), "
          f"{lime_t / batch_t / bound:.2f} with explain_batch (target >= 0.95); our time outside the "
          f"model per sample: {1e6 * (ours_t - ours_m) / (n * args.samples):.2f} us per explain(), "
          f"{1e6 * (batch_t - ours_m) / (n * args.samples):.2f} us with explain_batch")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10, help="rows explained (default 10)")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (best of)")
    parser.add_argument("--setting", choices=sorted(SETTINGS), action="append",
                        help="compare only this setting (repeatable; default: all)")
    args = parser.parse_args()

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=0)
    gbm = GradientBoostingClassifier(random_state=0).fit(X_train, y_train)
    rows = X_test[: args.rows]
    print(f"breast_cancer: {X.shape[1]} features, GBM probabilities, {args.samples} samples, {len(rows)} rows")
    print(f"\n  {'method':<28}{'ms/row':>9}{'model share':>13}{'median R^2':>12}")
    for setting in args.setting or SETTINGS:
        compare(setting, gbm.predict_proba, X_train, rows, args)


if __name__ == "__main__":
    main()
