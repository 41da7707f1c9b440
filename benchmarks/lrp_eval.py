"""Region perturbation (AOPC) of LRP vs occlusion vs KernelSHAP vs random, on one kernel SVM.

Setting (issue 5): scikit-learn's digits upsampled to 16x16, a one-vs-rest SVC with the histogram
intersection kernel (an exact LRP rule: relevance per pixel sums to f - b). Each explanation is
scored by region perturbation (Samek et al. 2017): 2x2 regions (64 per image), most relevant
first, replaced by uniform noise over the pixel range, L = 30 steps;
AOPC = mean_k f(x^0) - f(x^k) over the decision value of the predicted class. Higher is better;
random orders (5 per image) give the floor. Occlusion (2x2 windows, baseline 0) and KernelSHAP
(64 superpixels of 2x2, 1,024 coalitions, the mean training image as the baseline) see the same
regions. Also printed: LeRF (least relevant first, lower is
better), time per explanation and model evaluations.

    python benchmarks/lrp_eval.py              # about 2 minutes on 2 cores (KernelSHAP is most of it)
    python benchmarks/lrp_eval.py --images 3   # quicker

For an additive kernel, occlusion with a zero baseline removes exactly a region's LRP relevance
(``k_d(s_d, 0) = 0``), so the two rank regions identically: equal AOPC is a check, not a tie.
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
    args = parser.parse_args()

    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import SVC

    from blackbox_xai import KernelShapExplainer, OcclusionExplainer
    from blackbox_xai.analysis.metrics import region_perturbation
    from blackbox_xai.lrp import LRP, histogram_intersection

    X, y = load_digits(return_X_y=True)
    images = np.clip(zoom(X.reshape(-1, 8, 8) / 16.0, (1, 2, 2), order=1), 0, 1)
    flat = images.reshape(len(images), -1)
    train, test = slice(0, 1000), slice(1000, 1000 + args.images)
    svm = OneVsRestClassifier(SVC(kernel=histogram_intersection, C=10)).fit(flat[train], y[train])
    print(f"digits 16x16, one-vs-rest SVC(histogram intersection): test accuracy "
          f"{svm.score(flat[1000:], y[1000:]):.3f}; {args.images} images, 2x2 regions, L={args.steps}")

    groups = (np.arange(16)[:, None] // 2) * 8 + np.arange(16)[None, :] // 2  # 2x2 superpixels
    background = images[train].mean(axis=0, keepdims=True)  # one baseline: the mean digit
    results = {name: {"morf": [], "lerf": [], "time": 0.0, "evals": 0}
               for name in ("LRP", "occlusion", "KernelSHAP", "random")}
    for k, x in enumerate(images[test]):
        target = int(svm.predict(x.reshape(1, -1))[0])

        def decision(batch, t=target):
            return svm.decision_function(np.asarray(batch).reshape(len(batch), -1))[:, t]

        start = time.perf_counter()
        lrp = LRP(svm).explain(x.reshape(1, -1), target=target)
        maps = {"LRP": (lrp.relevance[0].reshape(16, 16), time.perf_counter() - start, 0)}
        start = time.perf_counter()
        occ = OcclusionExplainer(decision, window=(2, 2), strides=(2, 2)).explain(x)
        maps["occlusion"] = (occ.to_input(), time.perf_counter() - start, occ.n_evaluations)
        start = time.perf_counter()
        shap = KernelShapExplainer(decision, background, groups=groups, n_samples=args.samples,
                                   random_state=k).explain(x)
        maps["KernelSHAP"] = (shap.to_input(), time.perf_counter() - start, shap.n_evaluations)
        assert abs(lrp.output[0] - decision(x[None])[0]) < 1e-10 and abs(lrp.residual[0]) < 1e-10
        for name, (heat, seconds, evals) in maps.items():
            for order in ("morf", "lerf"):
                results[name][order].append(region_perturbation(
                    decision, x, heat, region=2, steps=args.steps, order=order, noise=(0, 1),
                    random_state=1000 + k).aopc)
            results[name]["time"] += seconds
            results[name]["evals"] += evals
        results["random"]["morf"].append(np.mean([region_perturbation(
            decision, x, np.zeros((16, 16)), region=2, steps=args.steps, order="random", noise=(0, 1),
            random_state=s).aopc for s in range(5)]))
    results["random"]["lerf"] = results["random"]["morf"]

    n = args.images
    print(f"\n{'method':<12}{'AOPC MoRF':>11}{'AOPC LeRF':>11}{'ms/image':>10}{'evals/image':>13}")
    for name, r in results.items():
        print(f"{name:<12}{np.mean(r['morf']):>11.3f}{np.mean(r['lerf']):>11.3f}"
              f"{1e3 * r['time'] / n:>10.1f}{r['evals'] // n:>13,}")
    floor = np.mean(results["random"]["morf"])
    print("\nAOPC MoRF over random: " + ", ".join(
        f"{name} {np.mean(results[name]['morf']) / floor:.2f}x" for name in ("LRP", "occlusion", "KernelSHAP")))


if __name__ == "__main__":
    main()
