"""SIS on scikit-learn's digits: explain two models and compare their rationales.

Trains an MLP and a logistic regression on the 8x8 digits bundled with scikit-learn (nothing is
downloaded), finds the sufficient input subsets (SIS) of both models on the test images of one
digit, clusters all SIS jointly (energy distance + DBSCAN) and cross-checks them (SIS of one model
scored by the other). Results are saved under --out; a PNG of example SIS is written when
matplotlib is installed.

    python examples/sis_digits.py                 # about 10 s on 2 cores
    python examples/sis_digits.py --digit 3 --mode fast --threshold 0.8
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from blackbox_xai import BackgroundMean, SISExplainer
from blackbox_xai.analysis import compare_sis, cross_check


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digit", type=int, default=4, help="explain the test images of this digit (default 4)")
    p.add_argument("--threshold", type=float, default=0.9, help="SIS threshold on the class probability")
    p.add_argument("--mode", choices=["exact", "fast"], default="exact")
    p.add_argument("--eps", type=float, default=0.3, help="DBSCAN eps (energy distance, in pixels)")
    p.add_argument("--min-samples", type=int, default=3, help="DBSCAN min_samples")
    p.add_argument("--out", default="out/sis_digits", help="output folder")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8)  # images; the sklearn adapter flattens them for the models
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    flat = X_train.reshape(len(X_train), -1)
    models = {
        "mlp": MLPClassifier(hidden_layer_sizes=(64,), max_iter=600, random_state=0).fit(flat, y_train),
        "logreg": LogisticRegression(max_iter=2000).fit(flat, y_train),
    }
    for name, m in models.items():
        print(f"{name}: test accuracy {m.score(X_test.reshape(len(X_test), -1), y_test):.3f}")

    images = X_test[y_test == args.digit]
    masked = BackgroundMean(X_train)  # masked pixels take the training mean
    os.makedirs(args.out, exist_ok=True)
    found = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        explainer = SISExplainer(m, args.threshold, masked_value=masked, target=args.digit, mode=args.mode)
        cols = explainer.explain_batch(images)
        dt = time.perf_counter() - t0
        sis = [s for c in cols for s in c]
        print(f"{name}: {len(images)} images of '{args.digit}' -> {len(sis)} SIS "
              f"({sum(len(c) == 0 for c in cols)} images below threshold), mean size "
              f"{np.mean([s.size for s in sis]):.1f} of 64 pixels, "
              f"{np.mean([c.n_evaluations for c in cols]):,.0f} evaluations per image, {dt:.2f} s")
        for i, c in enumerate(cols):
            c.save(os.path.join(args.out, f"{name}_{i:03d}.npz"))
        found[name] = cols

    comparison = compare_sis(found, eps=args.eps, min_samples=args.min_samples)
    print(f"\nSIS clusters (energy distance, DBSCAN eps={args.eps}, min_samples={args.min_samples}):")
    print(comparison.to_markdown())
    comparison.to_csv(os.path.join(args.out, "clusters.csv"))
    names = list(models)
    for a in names:
        for b in names:
            if a != b:
                share = cross_check(found[a], models[b]).share
                print(f"SIS of {a} scored by {b}: {100 * share:.1f}% reach {args.threshold}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"\nresults in {args.out}/ (install matplotlib for a picture)")
        return
    fig, axes = plt.subplots(len(names), 6, figsize=(9, 1.7 * len(names)))
    for row, name in zip(axes, names):
        cols = [c for c in found[name] if len(c)][:6]
        for ax, c in zip(row, cols):
            ax.imshow(c.x, cmap="gray_r")
            overlay = np.ma.masked_where(~c[0].mask, np.zeros_like(c.x))
            ax.imshow(overlay, cmap="autumn", alpha=0.7, vmin=0, vmax=1)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(name)
    fig.suptitle(f"First SIS (red) of digit {args.digit}, threshold {args.threshold}")
    path = os.path.join(args.out, "sis_examples.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"\nresults in {args.out}/, picture {path}")


if __name__ == "__main__":
    main()
