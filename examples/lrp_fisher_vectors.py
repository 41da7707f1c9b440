"""LRP through a Fisher-vector pipeline: pixels -> dense patches -> Fisher vector -> linear SVM.

Digits (scikit-learn's, upsampled to 28x28; nothing is downloaded) are cut into overlapping 7x7
patches (raw pixels), encoded as Fisher vectors of a 16-component diagonal GMM (power and L2
normalisation) and classified by a linear SVM per digit. LRP sends each decision back through
the normalisation (unchanged), the pooling (epsilon rule over the patches) and the patches
(spread over their pixels): a heatmap per image. Then a Clever-Hans check: a second model is
trained on images where every 0 carries a small bright square in the corner; LRP shows it looks
there. Region perturbation (AOPC) compares the heatmaps' order with the reverse and random orders.

Writes ``out/lrp_fisher_vectors/heatmaps.png`` and ``clever_hans.png``.

    python examples/lrp_fisher_vectors.py      # about 30 s on 2 cores
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from blackbox_xai.analysis.metrics import perturbation_summary
from blackbox_xai.lrp import LRP, DensePatches, FisherVectorEncoder

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_data import digits28  # noqa: E402


def fv_pipeline(seed=0):
    return make_pipeline(DensePatches(size=7, step=3), FisherVectorEncoder(16, random_state=seed),
                         LinearSVC(C=1.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/lrp_fisher_vectors")
    parser.add_argument("--train", type=int, default=800, help="training images")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from blackbox_xai.plot import attribution_heatmap

    images, y = digits28()
    images = images[:, 0].astype(float)
    train, test = slice(0, args.train), slice(args.train, args.train + 200)
    pipe = fv_pipeline().fit(images[train], y[train])
    print(f"Fisher vectors ({pipe[1].n_components} components, {pipe[:2].transform(images[:1]).shape[1]} "
          f"dims) + linear SVM: test accuracy {pipe.score(images[test], y[test]):.3f}")

    shown = images[test][:8]
    result = LRP(pipe).explain_batch(shown)
    pixels = result.info["pixels"]
    print(f"conservation: max |residual| {np.abs(result.residual).max():.1e}; pixels sum to the "
          f"relevance of the Fisher vector (max gap "
          f"{np.abs(pixels.sum(axis=(1, 2)) - result.relevance.sum(axis=1)).max():.1e})")
    fig, axes = plt.subplots(2, 8, figsize=(16, 4.4))
    for k in range(8):
        axes[0, k].imshow(shown[k], cmap="gray_r")
        axes[0, k].set_title(f"predicted {result.target[k]}", fontsize=9)
        axes[0, k].axis("off")
        attribution_heatmap(pixels[k], shown[k], ax=axes[1, k], colorbar=False,
                            title=f"f = {result.output[k]:+.2f}")
    fig.suptitle("LRP through dense patches -> Fisher vector -> linear SVM (red: for the predicted digit)")
    fig.savefig(os.path.join(args.out, "heatmaps.png"), dpi=100, bbox_inches="tight")

    scores = []
    for k, x in enumerate(shown):
        decision = lambda batch, t=result.target[k]: pipe.decision_function(batch)[:, t]  # noqa: E731
        scores.append(perturbation_summary(decision, x, pixels[k], region=4, steps=20, random_state=k).aopc)
    print("region perturbation (4x4 regions, 20 steps) AOPC: " + ", ".join(
        f"{order} {np.mean([s[order] for s in scores]):.3f}" for order in ("morf", "lerf", "random")))

    # Clever Hans: every 0 in training carries a marker in the top-left corner
    marked = images.copy()
    marked[(y == 0), 1:5, 1:5] = 1.0
    hans = fv_pipeline().fit(marked[train], y[train])
    zeros = np.flatnonzero(y[test] == 0)[:4]
    probe = marked[test][zeros]
    relevance = LRP(hans).explain_batch(probe, target=0).info["pixels"]
    share = relevance[:, :7, :7].clip(0).sum(axis=(1, 2)) / relevance.clip(0).sum(axis=(1, 2))
    print(f"Clever Hans: the marker corner (7x7 of 28x28, 6% of the image) holds "
          f"{100 * share.mean():.0f}% of the positive relevance for '0'")
    fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
    for k in range(len(probe)):
        attribution_heatmap(relevance[k], probe[k], ax=axes[k], colorbar=False,
                            title=f"{100 * share[k]:.0f}% in the corner")
    fig.suptitle("A model trained with a marker on every 0 relies on it")
    fig.savefig(os.path.join(args.out, "clever_hans.png"), dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}/heatmaps.png and clever_hans.png")


if __name__ == "__main__":
    main()
