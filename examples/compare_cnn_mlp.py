"""The main job: compare a CNN's and an MLP's rationales with SIS clustering, end to end.

Trains a small CNN and an MLP with torch on scikit-learn's digits upsampled to 28x28 (nothing is
downloaded), finds the sufficient input subsets of both models on the test images of one digit
(threshold 0.7, masked pixels take the training mean), clusters all SIS jointly and cross-checks
them. Tables, figures and report.html go to --out.

    python examples/compare_cnn_mlp.py                    # ~1-2 minutes on 2 cores (fast SIS)
    python examples/compare_cnn_mlp.py --digit 7 --mode exact --n-per-model 10
    python examples/compare_cnn_mlp.py --full             # exact SIS on every digit (hours)

The data and the models are in digits_study.py beside this file; the clustering, the
cross-check and the report are the library's (blackbox_xai.analysis).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_study import accuracy, digits28, make_models, train  # noqa: E402

from blackbox_xai.analysis import compare_models  # noqa: E402
from blackbox_xai.analysis.report import save_comparison, write_report  # noqa: E402
from blackbox_xai.explainers import SISExplainer  # noqa: E402
from blackbox_xai.features import BackgroundMean  # noqa: E402


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--digit", type=int, default=4, help="explain the test images of this digit (default 4)")
    parser.add_argument("--n-per-model", type=int, default=None,
                        help="explain at most this many images per model (default: all test images of the digit)")
    parser.add_argument("--threshold", type=float, default=0.7, help="SIS threshold (default 0.7, as published)")
    parser.add_argument("--mode", choices=("fast", "exact"), default="fast",
                        help="SIS search; fast by default to finish in minutes (exact: ~1 min per image)")
    parser.add_argument("--full", action="store_true", help="exact SIS on every digit (hours on 2 cores)")
    parser.add_argument("--eps", type=float, default=0.08,
                        help="DBSCAN eps, energy distance with coordinates in [0, 1] (default 0.08)")
    parser.add_argument("--min-samples", type=int, default=3, help="DBSCAN min_samples (default 3)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs for both models")
    parser.add_argument("--executor", default=None, choices=("serial", "ray"),
                        help="where model calls run (default: serial, or Ray when RAY_ADDRESS is set)")
    parser.add_argument("--out", default="out/compare_cnn_mlp", help="output folder")
    return parser


def run(args) -> dict:
    """Run the study; returns a summary dict (also written to ``settings.json``)."""
    if importlib.util.find_spec("torch") is None:  # fail here, clearly, before any work
        raise ImportError("the CNN-vs-MLP study trains torch models: pip install 'blackbox-xai[torch]'")
    from sklearn.model_selection import train_test_split

    from blackbox_xai.adapters import as_model

    os.makedirs(args.out, exist_ok=True)
    X, y = digits28()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    nets = make_models()
    summary = {"threshold": args.threshold, "mode": "exact" if args.full else args.mode,
               "eps": args.eps, "min_samples": args.min_samples, "epochs": args.epochs,
               "masking": "training mean per pixel", "data": "sklearn digits upsampled to 28x28",
               "accuracy": {}, "digits": []}
    for name, net in nets.items():
        start = time.perf_counter()
        train(net, X_train, y_train, epochs=args.epochs)
        summary["accuracy"][name] = accuracy(net, X_test, y_test)
        print(f"{name}: test accuracy {summary['accuracy'][name]:.3f} "
              f"(trained in {time.perf_counter() - start:.1f} s)")
    models = {name: as_model(net, postprocess="softmax") for name, net in nets.items()}
    explainer = SISExplainer(None, args.threshold, masked_value=BackgroundMean(X_train),
                             mode="exact" if args.full else args.mode, executor=args.executor)
    digits = range(10) if args.full else [args.digit]
    for digit in digits:
        summary["digits"].append(_one_digit(args, digit, X_test[y_test == digit], models, explainer))
    settings = {key: summary[key] for key in ("data", "threshold", "mode", "masking", "eps", "min_samples", "epochs")}
    settings.update({f"{name} test accuracy": f"{acc:.3f}" for name, acc in summary["accuracy"].items()})
    summary["report"] = write_report(
        args.out, summary["digits"], title="Do a CNN and an MLP decide on the same evidence?", settings=settings,
        intro="Sufficient input subsets (SIS) of both models, clustered jointly by energy distance and "
              "DBSCAN; each cluster's share of SIS from each model, and each model's SIS scored by the other.")
    with open(os.path.join(args.out, "settings.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    print(f"\nreport: {summary['report']}")
    return summary


def _one_digit(args, digit, images, models, explainer):
    images = images[: args.n_per_model] if args.n_per_model else images
    start = time.perf_counter()
    result = compare_models(models, images, explainer, target=digit, eps=args.eps,
                            min_samples=args.min_samples, scale=28)
    found = {m: sum(len(c) for c in cols) for m, cols in result.collections.items()}
    print(f"\ndigit {digit}: {len(images)} test images; SIS found: "
          + ", ".join(f"{m} {n} ({result.seconds[m]:.1f} s)" for m, n in found.items()))
    section = save_comparison(args.out, f"digit{digit}", result, title=f"Digit {digit}")
    print(section["table"] + "\n\n" + section["cross"])
    return {**section, "digit": digit, "rows": result.clusters.rows,
            "cross_share": {f"{a} by {b}": c.share for (a, b), c in result.cross.items()},
            "elapsed": time.perf_counter() - start}


def use_headless_backend():
    """Draw off-screen (the study only writes PNG files): for scripts and the command line, not
    for :func:`run` itself, which leaves a notebook's backend alone."""
    try:
        import matplotlib
    except ImportError:
        return
    matplotlib.use("Agg")


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]))
    use_headless_backend()
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
