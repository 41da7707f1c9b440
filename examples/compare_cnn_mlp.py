"""The main job: compare a CNN's and an MLP's rationales with SIS clustering, end to end.

Trains a small CNN and an MLP with torch on the CPU, finds the sufficient input subsets (SIS) of
both models on the test images of one class (threshold 0.7, masked pixels take the training mean),
clusters all SIS jointly and cross-checks them. Tables, figures and report.html go to --out.

    python examples/compare_cnn_mlp.py                           # bundled digits, ~1 minute
    python examples/compare_cnn_mlp.py --dataset fashion-mnist   # real 28x28 images, ~4-5 minutes
    python examples/compare_cnn_mlp.py --dataset idx --data-dir ~/mnist   # any MNIST-style folder
    python examples/compare_cnn_mlp.py --label 7 --mode exact --n-per-model 10

Data: scikit-learn's digits upsampled to 28x28 (bundled, the default), Fashion-MNIST from
Debian's ``dataset-fashion-mnist`` (``sudo apt-get install dataset-fashion-mnist``), or the four
IDX files of MNIST itself in a folder of yours. Nothing is downloaded. The data and the models are
in study_data.py beside this file; the clustering, the cross-check and the report are the
library's (blackbox_xai.analysis).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from study_data import accuracy, load_study_data, make_models, train  # noqa: E402

from blackbox_xai.analysis import compare_models  # noqa: E402
from blackbox_xai.analysis.report import save_comparison, write_report  # noqa: E402
from blackbox_xai.explainers import SISExplainer  # noqa: E402
from blackbox_xai.features import BackgroundMean  # noqa: E402

# per dataset: the class explained, images per model, DBSCAN eps
DEFAULTS = {"digits": {"label": 4, "n_per_model": None, "eps": 0.08},
            "fashion-mnist": {"label": 9, "n_per_model": 200, "eps": 0.12},
            "idx": {"label": 4, "n_per_model": 200, "eps": 0.12}}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="digits",
                        help="digits (bundled, default), fashion-mnist (Debian's dataset-fashion-mnist, "
                        "or --data-dir), idx (the four IDX files in --data-dir, e.g. MNIST)")
    parser.add_argument("--data-dir", help="a folder holding the four IDX files (train-images-idx3-ubyte[.gz], ...)")
    parser.add_argument("--label", "--digit", dest="label", type=int, default=None,
                        help="explain the test images of this class (default: 4 for digits, 9 = ankle boot "
                        "for Fashion-MNIST)")
    parser.add_argument("--n-per-model", type=int, default=None,
                        help="explain at most this many images per model (default: all 54 for digits, 200 otherwise)")
    parser.add_argument("--threshold", type=float, default=0.7, help="SIS threshold (default 0.7, as published)")
    parser.add_argument("--mode", choices=("fast", "exact"), default="fast",
                        help="SIS search; fast by default to finish in minutes (exact: ~1 min per image)")
    parser.add_argument("--full", action="store_true", help="exact SIS on every class (hours on 2 cores)")
    parser.add_argument("--eps", type=float, default=None,
                        help="DBSCAN eps, energy distance with coordinates in [0, 1] (default 0.08 for digits, "
                        "0.12 otherwise)")
    parser.add_argument("--min-samples", type=int, default=3, help="DBSCAN min_samples (default 3)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs for both models (default 8)")
    parser.add_argument("--train-size", type=int, default=None, help="train on the first N training images "
                        "(default: all)")
    parser.add_argument("--executor", default=None, choices=("serial", "ray"),
                        help="where model calls run (default: serial, or Ray when RAY_ADDRESS is set)")
    parser.add_argument("--out", default="out/compare_cnn_mlp", help="output folder")
    return parser


def _setting(args, name):
    value = getattr(args, name)
    return DEFAULTS[args.dataset][name] if value is None else value


def _caveats(args):
    caveats = []
    if args.dataset == "digits":
        caveats.append("upsampled 8x8 digits are blurry 3.5-pixel blocks, not MNIST: run with "
                       "--dataset fashion-mnist (or MNIST's IDX files) for real 28x28 images")
    if not args.full and args.mode == "fast":
        caveats.append("fast-mode SIS: close to exact in size, not guaranteed minimal (use --mode exact)")
    caveats.append("masked pixels take the training mean, so a kept background pixel (0, where the mean is "
                   "grey) is evidence too: SIS often hold background pixels that outline the shape")
    caveats.append(f"one class and a sample of its test images; the clusters move with eps ({args.eps:g}) and "
                   f"min_samples ({args.min_samples})")
    caveats.append("counts can differ by a few SIS between CPUs (a SIS search follows the model's last digits)")
    return caveats


def run(args) -> dict:
    """Run the study; returns a summary dict (also written to ``settings.json``)."""
    if importlib.util.find_spec("torch") is None:  # fail here, clearly, before any work
        raise ImportError("the CNN-vs-MLP study trains torch models: pip install 'blackbox-xai[torch]'")
    from blackbox_xai.adapters import as_model

    started = time.perf_counter()
    args.eps = _setting(args, "eps")
    os.makedirs(args.out, exist_ok=True)
    print(f"loading {args.dataset} ...", file=sys.stderr, flush=True)
    X_train, y_train, X_test, y_test, class_names, description = load_study_data(args.dataset, args.data_dir)
    if args.train_size:
        X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    epochs = args.epochs
    nets = make_models()
    summary = {"dataset": args.dataset, "data": description, "threshold": args.threshold,
               "mode": "exact" if args.full else args.mode, "eps": args.eps, "min_samples": args.min_samples,
               "epochs": epochs, "n_train": len(X_train), "n_test": len(X_test),
               "masking": "training mean per pixel", "accuracy": {}, "classes": []}
    for name, net in nets.items():
        start = time.perf_counter()
        print(f"training the {name} on {len(X_train):,} images ({epochs} epochs)", file=sys.stderr, flush=True)
        train(net, X_train, y_train, epochs=epochs, name=name)
        summary["accuracy"][name] = accuracy(net, X_test, y_test)
        print(f"{name}: test accuracy {summary['accuracy'][name]:.3f} "
              f"(trained in {time.perf_counter() - start:.1f} s)", flush=True)
    models = {name: as_model(net, postprocess="softmax") for name, net in nets.items()}
    explainer = SISExplainer(None, args.threshold, masked_value=BackgroundMean(X_train),
                             mode="exact" if args.full else args.mode, executor=args.executor)
    labels = range(len(class_names)) if args.full else [_setting(args, "label")]
    caveats = _caveats(args)
    for label in labels:
        summary["classes"].append(_one_class(args, label, class_names[label], X_test[y_test == label], models,
                                             explainer, caveats))
    settings = {"data": f"{description}: {len(X_train):,} training, {len(X_test):,} test images",
                **{key: summary[key] for key in ("threshold", "mode", "masking", "eps", "min_samples", "epochs")}}
    settings.update({f"{name} test accuracy": f"{acc:.3f}" for name, acc in summary["accuracy"].items()})
    summary["report"] = write_report(
        args.out, summary["classes"], title="Do a CNN and an MLP decide on the same evidence?", settings=settings,
        intro="Sufficient input subsets (SIS: the fewest pixels whose values alone keep the model's decision at "
              "the threshold, the others masked) of both models, clustered jointly by energy distance and "
              "DBSCAN; each cluster's share of SIS from each model, and each model's SIS scored by the other.")
    summary["seconds"] = time.perf_counter() - started
    with open(os.path.join(args.out, "settings.json"), "w") as fh:
        json.dump(summary, fh, indent=1)
    print(f"\nreport: {summary['report']} (the whole run took {summary['seconds']:.0f} s)")
    return summary


def _one_class(args, label, class_name, images, models, explainer, caveats):
    n = _setting(args, "n_per_model")
    images = images[:n] if n else images
    start = time.perf_counter()
    title = f"Class {label} ({class_name})" if class_name != str(label) else f"Digit {label}"
    print(f"\n{title}: SIS of both models on {len(images)} test images", file=sys.stderr, flush=True)
    result = compare_models(models, images, explainer, target=label, eps=args.eps,
                            min_samples=args.min_samples, scale=28, progress=True)
    found = {m: sum(len(c) for c in cols) for m, cols in result.collections.items()}
    print(f"\n{title}: {len(images)} test images; SIS found: "
          + ", ".join(f"{m} {n:,} ({result.seconds[m]:.1f} s)" for m, n in found.items()))
    section = save_comparison(args.out, f"class{label}", result, title=title, caveats=caveats)
    print("\n".join(section["summary"]) + "\n\n" + section["table"] + "\n\n" + section["cross"])
    return {**section, "label": label, "class_name": class_name, "rows": result.clusters.rows,
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
