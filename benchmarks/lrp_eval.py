"""Region perturbation (AOPC) of LRP vs occlusion vs KernelSHAP vs random, on kernel SVMs.

Setting: scikit-learn's digits upsampled to 16x16, as they are and on a background of
uniform noise (the construction of Larochelle et al. 2007's mnist-back-rand: every background
pixel drawn from U[0, 1]), each with two one-vs-rest SVCs: the histogram intersection kernel (an
exact LRP rule: relevance per pixel sums to f - b) and the RBF kernel (LRP three ways:
path-integrated from a root point, first-order Taylor at it, and the neuralized log-odds). Each
explanation of the predicted class's decision value is scored by region perturbation (Samek et
al. 2017): 2x2 regions (64 per image), replaced by uniform noise in [0, 1], L = 30 steps; AOPC =
mean_k f(x^0) - f(x^k). Most relevant first (MoRF, higher is better), least relevant first
(LeRF, lower is better) and 5 random orders per image (the floor). Occlusion (2x2 windows,
baseline 0) and KernelSHAP (64 superpixels of 2x2, 1,024 coalitions, the mean training image as
the baseline) see the same regions. Also printed: time per explanation and model rows.

Why two tasks: on plain digits, noise *adds* ink to the empty background, which lowers the
decision wherever it lands, so the random order is a strong floor and a rule relative to zero
gives empty pixels no relevance. On the noise background, perturbing background changes little
and the metric measures what it was designed for (natural images, where every region has content).

For an additive kernel, occlusion with a zero baseline removes exactly a region's LRP relevance
(``k_d(s_d, 0) = 0``), so the two rank regions identically: equal AOPC is a check, not a tie.

    python benchmarks/lrp_eval.py              # about 6 minutes on 2 cores (KernelSHAP on HIK is most of it)
    python benchmarks/lrp_eval.py --images 3 --task digits   # quicker
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10, help="test images explained")
    parser.add_argument("--steps", type=int, default=30, help="regions destroyed (L)")
    parser.add_argument("--samples", type=int, default=1024, help="KernelSHAP coalitions")
    parser.add_argument("--task", choices=("digits", "back-rand", "both"), default="both",
                        help="plain digits, digits on a uniform-noise background, or both")
    args = parser.parse_args()
    tasks = ("digits", "back-rand") if args.task == "both" else (args.task,)
    for task in tasks:
        evaluate(task, args)


def evaluate(task, args):

    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    from blackbox_xai import KernelShapExplainer, OcclusionExplainer
    from blackbox_xai.analysis.metrics import perturbation_summary
    from blackbox_xai.lrp import LRP, histogram_intersection

    X, y = load_digits(return_X_y=True)
    images = np.clip(zoom(X.reshape(-1, 8, 8) / 16.0, (1, 2, 2), order=1), 0, 1)
    if task == "back-rand":  # mnist-back-rand: background pixels (no ink) drawn from U[0, 1]
        noise = np.random.default_rng(0).random(images.shape)
        images = np.where(images > 0.1, images, noise)
    flat = images.reshape(len(images), -1)
    train, test = slice(0, 1000), slice(1000, 1000 + args.images)
    groups = (np.arange(16)[:, None] // 2) * 8 + np.arange(16)[None, :] // 2  # 2x2 superpixels
    background = images[train].mean(axis=0, keepdims=True)  # one baseline: the mean training image
    models = {
        "histogram intersection": (SVC(kernel=histogram_intersection, C=10), {"LRP": {}}),
        "RBF": (SVC(kernel="rbf", gamma="scale", C=10),
                {"LRP path": {"rbf": "path"}, "LRP Taylor": {"rbf": "taylor"},
                 "LRP neuralized": {"rbf": "neuralized"}}),
    }
    name = "digits 16x16" if task == "digits" else "digits 16x16 on a uniform-noise background (back-rand)"
    print(f"\n# {name}, {args.images} test images, 2x2 regions, L={args.steps}, uniform noise in [0, 1]")
    for kernel, (svc, lrp_variants) in models.items():
        svm = OneVsRestClassifier(svc).fit(flat[train], y[train])
        rows = {}

        def record(name, heat, seconds, evals, decision, x, k):
            aopc = perturbation_summary(decision, x, heat, region=2, steps=args.steps, noise=(0, 1),
                                        random_state=k).aopc
            row = rows.setdefault(name, {"morf": [], "lerf": [], "random": [], "time": 0.0, "evals": 0})
            for order in ("morf", "lerf", "random"):
                row[order].append(aopc[order])
            row["time"] += seconds
            row["evals"] += evals

        for k, x in enumerate(images[test]):
            target = int(svm.predict(x.reshape(1, -1))[0])

            def decision(batch, t=target):
                return svm.decision_function(np.asarray(batch).reshape(len(batch), -1))[:, t]

            for name, options in lrp_variants.items():
                start = time.perf_counter()
                lrp = LRP(svm, **options).explain(x.ravel(), target=target)
                record(name, lrp.relevance[0].reshape(16, 16), time.perf_counter() - start, 0, decision, x, k)
            start = time.perf_counter()
            occ = OcclusionExplainer(decision, window=(2, 2), strides=(2, 2)).explain(x)
            record("occlusion", occ.to_input(), time.perf_counter() - start, occ.n_evaluations, decision, x, k)
            start = time.perf_counter()
            shap = KernelShapExplainer(decision, background, groups=groups, n_samples=args.samples,
                                       random_state=k).explain(x)
            record("KernelSHAP", shap.to_input(), time.perf_counter() - start, shap.n_evaluations, decision, x, k)

        n = args.images
        floor = np.mean([np.mean(r["random"]) for r in rows.values()])
        print(f"\n## one-vs-rest SVC, {kernel} kernel: test accuracy {svm.score(flat[1000:], y[1000:]):.3f}")
        print(f"{'method':<16}{'AOPC MoRF':>11}{'AOPC LeRF':>11}{'MoRF/random':>13}{'ms/image':>10}{'rows/image':>12}")
        for name, r in rows.items():
            print(f"{name:<16}{np.mean(r['morf']):>11.3f}{np.mean(r['lerf']):>11.3f}"
                  f"{np.mean(r['morf']) / floor:>12.2f}x{1e3 * r['time'] / n:>10.1f}{r['evals'] // n:>12,}")
        print(f"{'random':<16}{floor:>11.3f}{floor:>11.3f}{1.0:>12.2f}x")


if __name__ == "__main__":
    main()
