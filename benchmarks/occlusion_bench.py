"""Occlusion against captum's Occlusion on a small torch CNN over 28x28 digits, in one run.

Both explain the same test images for the predicted class with the same windows, baseline 0, on
the network's logits: window 4x4 with stride 2, and window 5x5 with stride 3, whose stride does not
divide 28 - 5 (the last window of each axis is cut at the edge). Printed: the largest absolute difference between the
two attributions (float32 tolerance expected), wall time per image for each (captum with its
default ``perturbations_per_eval=1`` and with every window in one batch), and the ratios.

Needs captum (not a dependency of blackbox-xai): ``pip install captum``.

    python benchmarks/occlusion_bench.py       # ~30 s on 2 cores
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _digits import digits28, small_cnn, train_torch  # noqa: E402
from _timing import best_time  # noqa: E402

from blackbox_xai import OcclusionExplainer, as_model  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    X, y = digits28()
    net = train_torch(small_cnn(), X[:1400], y[:1400], epochs=3)
    net.eval()
    images = X[1400:1400 + args.images]
    with torch.no_grad():
        labels = net(torch.from_numpy(images)).argmax(1).numpy()

    for window, stride in ((4, 2), (5, 3)):  # 28 - 5 = 23 is not a multiple of 3: a cut last window
        compare(net, images, labels, window, stride, args.repeats)


def compare(net, images, labels, window, stride, repeats):
    import torch
    from captum.attr import Occlusion

    explainer = OcclusionExplainer(as_model(net), window=(window, window), strides=(stride, stride))
    ours = explainer.explain_batch(images, target=labels)
    t_ours = best_time(lambda: [explainer.explain(x, target=int(t)) for x, t in zip(images, labels)],
                       repeats)[0]

    occlusion = Occlusion(net)
    n_windows = ours[0].info["n_windows"]

    def captum(per_eval):
        with torch.no_grad():
            return [occlusion.attribute(torch.from_numpy(x[None]), sliding_window_shapes=(1, window, window),
                                        strides=(1, stride, stride), baselines=0.0, target=int(t),
                                        perturbations_per_eval=per_eval)[0].numpy()
                    for x, t in zip(images, labels)]

    theirs = captum(n_windows)
    diff = max(float(np.abs(a.values - b).max()) for a, b in zip(ours, theirs))
    scale = max(float(np.abs(b).max()) for b in theirs)
    t_batched = best_time(lambda: captum(n_windows), repeats)[0]
    t_default = best_time(lambda: captum(1), 1)[0]

    n = len(images)
    print(f"\n{n} images 1x28x28, window {window}x{window}, stride {stride}: {n_windows} windows, "
          f"{ours[0].n_evaluations} evaluations per image")
    print(f"largest |ours - captum|: {diff:.2e} (attributions up to {scale:.2f})")
    print(f"{'method':<40}{'ms/image':>10}")
    print(f"{'blackbox-xai OcclusionExplainer':<40}{1e3 * t_ours / n:>10.1f}")
    print(f"{'captum Occlusion, all windows per batch':<40}{1e3 * t_batched / n:>10.1f}")
    print(f"{'captum Occlusion, default (1 per batch)':<40}{1e3 * t_default / n:>10.1f}")
    print(f"captum / ours: {t_batched / t_ours:.2f}x (batched), {t_default / t_ours:.2f}x (default)")

if __name__ == "__main__":
    main()
