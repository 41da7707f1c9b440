"""The main study: do a CNN and an MLP decide on the same evidence? (SIS clustering, after
Carter et al., "What made you do this?", AISTATS 2019, on MNIST.)

Data: scikit-learn's bundled digits, upsampled to 28x28 (nothing is downloaded). A small CNN and
an MLP are trained with torch (fixed seed); SIS (threshold 0.7, masked pixels take the training
mean) are found for both on the test images of one digit; all SIS are clustered jointly (energy
distance between pixel sets, DBSCAN) and each model's SIS are scored by the other model.

Run with ``python examples/compare_cnn_mlp.py`` or ``blackbox-xai compare``; results and a
``report.html`` land in ``--out``.
"""
from __future__ import annotations

import argparse
import html
import importlib.util
import json
import os
import time

import numpy as np

from blackbox_xai.analysis.compare import compare_models
from blackbox_xai.explainers import SISExplainer
from blackbox_xai.features import BackgroundMean


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
                        help="where model calls run (default: Ray if a runtime is up, else serial)")
    parser.add_argument("--out", default="out/compare_cnn_mlp", help="output folder")
    return parser


def digits28():
    """scikit-learn's digits upsampled to 28x28 (bilinear), in [0, 1], shape (N, 1, 28, 28)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    images = zoom(X.reshape(-1, 8, 8) / 16.0, (1, 3.5, 3.5), order=1)
    return np.clip(images, 0, 1)[:, None].astype(np.float32), y


def make_models(seed=0):
    import torch
    import torch.nn as nn

    with torch.random.fork_rng(devices=[]):  # the caller's global torch RNG is left as it was
        torch.manual_seed(seed)  # the initial weights
        cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
        mlp = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 10))
    return {"CNN": cnn, "MLP": mlp}


def train(net, X, y, *, epochs, seed=0, lr=2e-3, batch=64):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # multithreaded CPU kernels sum in varying order: not reproducible
    try:
        with torch.random.fork_rng(devices=[]):  # seeded (dropout, if any); the caller's RNG kept
            torch.manual_seed(seed)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y).long()
            opt = torch.optim.Adam(net.parameters(), lr=lr)
            order = torch.Generator().manual_seed(seed)
            net.train()
            for _ in range(epochs):
                perm = torch.randperm(len(Xt), generator=order)
                for i in range(0, len(Xt), batch):
                    idx = perm[i:i + batch]
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
                    opt.step()
            net.eval()
    finally:
        torch.set_num_threads(threads)
    return net


def accuracy(net, X, y):
    import torch

    with torch.no_grad():
        return float((net(torch.from_numpy(X)).argmax(1).numpy() == y).mean())


def run(args) -> dict:
    """Run the study; returns a summary dict (also written to ``settings.json``)."""
    if importlib.util.find_spec("torch") is None:  # fail here, clearly, before any work
        raise ImportError("the CNN-vs-MLP study trains torch models: pip install torch==2.13.0")
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
    summary["report"] = write_report(args.out, summary)
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
    table, cross = result.clusters.to_markdown(), result.cross_table()
    print(table + "\n\n" + cross)
    prefix = os.path.join(args.out, f"digit{digit}")
    result.clusters.to_csv(prefix + "_clusters.csv")
    with open(prefix + "_clusters.md", "w") as fh:
        fh.write(f"{table}\n\n{cross}\n")
    figures = _figures(args.out, digit, result)
    return {"digit": digit, "n_images": len(images), "n_sis": found, "seconds": result.seconds,
            "table": table, "cross": cross, "rows": result.clusters.rows, "figures": figures,
            "cross_share": {f"{a} by {b}": c.share for (a, b), c in result.cross.items()},
            "elapsed": time.perf_counter() - start}


def _figures(out, digit, result):
    """PNGs: example SIS per model, a montage per cluster. Returns their file names."""
    try:  # the caller's backend (a notebook's stays); scripts and the command line set Agg
        import matplotlib.pyplot as plt
    except ImportError:
        print("(install matplotlib for the figures)")
        return []
    from blackbox_xai.plot import cluster_montage, sis_overlay

    names = []
    for model, cols in result.collections.items():
        members = [(c.x, s.mask) for c in cols for s in c][:8]
        if not members:
            continue
        fig, axes = plt.subplots(1, len(members), figsize=(1.6 * len(members), 1.9))
        for ax, (x, mask) in zip(np.atleast_1d(axes), members):
            sis_overlay(x, mask, ax=ax)
        fig.suptitle(f"{model}: SIS (red) of digit {digit}", fontsize=10)
        names.append(_save(fig, out, f"digit{digit}_sis_{model}.png", plt))
    owners = list(result.collections)
    sis = [(c.x, s.mask, owners[i]) for i, m in enumerate(owners) for c in result.collections[m] for s in c]
    labels = result.clusters.labels
    for row in result.clusters.rows:
        cluster = -1 if row["cluster"] == "Misc" else int(row["cluster"][1:]) - 1
        members = [sis[j] for j in np.flatnonzero(labels == cluster)]
        shares = ", ".join(f"{row['share_' + m]:.0f}% {m}" for m in owners)
        fig = cluster_montage([m[0] for m in members], [m[1] for m in members], labels=[m[2] for m in members],
                              title=f"{row['cluster']}: {row['n_sis']} SIS ({shares})")
        names.append(_save(fig, out, f"digit{digit}_cluster_{row['cluster']}.png", plt))
    return names


def _save(fig, out, name, plt):
    fig.savefig(os.path.join(out, name), dpi=90, bbox_inches="tight")
    plt.close(fig)
    return name


def _markdown_table_html(markdown):
    rows = [line.strip("|").split("|") for line in markdown.splitlines() if line and not line.startswith("|---")]
    head, body = rows[0], rows[1:]
    cells = "".join(f"<th>{html.escape(c.strip())}</th>" for c in head)
    out = [f"<table><tr>{cells}</tr>"]
    for r in body:
        out.append("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>")
    return "".join(out) + "</table>"


def write_report(out, summary) -> str:
    """``report.html``: settings, accuracies, per digit the cluster table, the cross-check and
    every figure (referenced by relative path; the folder is self-contained)."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>CNN vs MLP rationales</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px}"
             "img{max-width:100%;margin:4px 0}</style></head><body>",
             "<h1>Do a CNN and an MLP decide on the same evidence?</h1>",
             "<p>Sufficient input subsets (SIS) of both models, clustered jointly by energy distance "
             "and DBSCAN; each cluster's share of SIS from each model, and each model's SIS scored by "
             "the other.</p>", "<h2>Settings</h2><ul>"]
    for key in ("data", "threshold", "mode", "masking", "eps", "min_samples", "epochs"):
        parts.append(f"<li>{key}: {html.escape(str(summary[key]))}</li>")
    for name, acc in summary["accuracy"].items():
        parts.append(f"<li>{name} test accuracy: {acc:.3f}</li>")
    parts.append("</ul>")
    for d in summary["digits"]:
        parts.append(f"<h2>Digit {d['digit']}: {d['n_images']} test images</h2>")
        parts.append(f"<p>SIS found: {html.escape(json.dumps(d['n_sis']))}</p>")
        parts.append(_markdown_table_html(d["table"]) + _markdown_table_html(d["cross"]))
        for name in d["figures"]:
            parts.append(f"<div><img src='{html.escape(name)}' alt='{html.escape(name)}'></div>")
    parts.append("</body></html>")
    path = os.path.join(out, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return path


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
