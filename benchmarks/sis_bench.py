"""SIS speed: exact vs fast mode vs the reference behaviour, on digits (MLP) and a 28x28 CNN.

Prints, per setting: time per explained input, the share of that time spent inside the model,
model evaluations per input, mean SIS size and whether every SIS is sufficient. The peer is the
reference implementation's behaviour (google-research `sufficient_input_subsets/sis.py`, which no
longer runs on NumPy >= 1.24): one masked input built per candidate in a Python loop, one batched
model call per backward-selection step. It is re-created here in `reference_style_*` (our own few
lines, same algorithm and loop structure) and must return the same SIS as exact mode.

Targets: exact mode >= 95% of its time inside the model on the CNN, and on the sklearn MLP
within 10 points of a bare lockstep loop that returns the same SIS (measured in the same run);
fast mode, on every input of a torch CNN and an sklearn MLP at 28x28: first SIS at most 1.2x the
size of exact mode's, >= 20x fewer evaluations, every SIS sufficient (the distribution over inputs
is printed).

    python benchmarks/sis_bench.py            # ~6 minutes on 2 cores
    python benchmarks/sis_bench.py --quick    # ~1 minute
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _digits import Timed, digits8, digits28, small_cnn, train_mlp8, train_torch  # noqa: E402

from blackbox_xai import SISExplainer, as_model  # noqa: E402
from blackbox_xai.explainers.backselect import find_sis_from_backselect  # noqa: E402


# --- the peer: reference behaviour ------------------------------------------------------------
def reference_style_backselect(f, x, masked, mask, target):
    current, stack = mask.copy(), []
    while current.any():
        idxs = np.argwhere(current)
        batch = []
        for idx in idxs:  # one masked input per candidate, as the reference builds them
            m = current.copy()
            m[tuple(idx)] = False
            batch.append(np.where(m, x, masked))
        preds = f(np.array(batch))[:, target]
        best = int(np.argmax(preds))
        current[tuple(idxs[best])] = False
        stack.append((idxs[best], preds[best]))
    return stack


def reference_style_collection(f, x, masked, threshold, target):
    mask, found = np.ones(x.shape, bool), []
    while f(np.where(mask, x, masked)[None])[0, target] >= threshold and mask.any():
        stack = reference_style_backselect(f, x, masked, mask, target)
        sis = find_sis_from_backselect(np.array([s[0] for s in stack]), [s[1] for s in stack], threshold)
        found.append(sis)
        for idx in sis:
            mask[tuple(idx)] = False
    return found


# --- the floor: a bare loop --------------------------------------------------------------------
def bare_lockstep_collections(f, X, masked, threshold, targets):
    """Exact SIS collections of every row of ``X`` (flat features), written as lean as it goes:
    no engine, adapter or checks; all rows' backward-selection steps in one model call each, as
    ``explain_batch`` does. Returns, per row, the SIS as lists of feature numbers."""
    n, d = X.shape
    rows = np.arange(n)
    remaining = np.ones((n, d), bool)  # features not yet in one of the row's SIS
    found = [[] for _ in range(n)]
    current, stacks = {}, {}

    def start(candidates):  # rows whose remaining features still suffice begin a backward selection
        if not candidates:
            return
        idx = np.array(candidates)
        out = f(np.where(remaining[idx], X[idx], masked))[np.arange(len(idx)), targets[idx]]
        for i, ok in zip(candidates, out >= threshold):
            if ok and remaining[i].any():
                current[i], stacks[i] = remaining[i].copy(), []

    start(list(rows))
    while current:
        owners = [(i, np.flatnonzero(mask)) for i, mask in current.items()]
        batch = np.empty((sum(len(idx) for _, idx in owners), d))  # every candidate of every row
        at = 0
        for i, idx in owners:
            block = batch[at:at + len(idx)]
            block[:] = np.where(current[i], X[i], masked)
            block[np.arange(len(idx)), idx] = masked[idx]
            at += len(idx)
        preds = f(batch)
        at, finished = 0, []
        for i, idx in owners:
            p = preds[at:at + len(idx), targets[i]]
            at += len(idx)
            best = int(np.argmax(p))
            current[i][idx[best]] = False
            stacks[i].append((idx[best], p[best]))
            if not current[i].any():
                order = np.array([[s[0]] for s in stacks[i]])
                sis = [int(j[0]) for j in find_sis_from_backselect(order, [s[1] for s in stacks[i]], threshold)]
                found[i].append(sis)
                remaining[i, sis] = False
                del current[i], stacks[i]
                finished.append(i)
        start(finished)
    return found


# --- measurement ------------------------------------------------------------------------------
def run(name, explainer_of, timed, X, batch):
    """Explain X (one by one, or as one batch) and return a result row."""
    timed.seconds = 0.0
    t0 = time.perf_counter()
    if batch:
        cols = explainer_of().explain_batch(X)
    else:
        cols = [explainer_of().explain(x) for x in X]
    wall = time.perf_counter() - t0
    sizes = [s.size for c in cols for s in c]
    return {
        "setting": name,
        "s/input": wall / len(X),
        "model share": timed.seconds / wall,
        "evals/input": np.mean([c.n_evaluations for c in cols]),
        "SIS/input": len(sizes) / len(X),
        "mean size": float(np.mean([c[0].size for c in cols if len(c)])),
        "all sufficient": all(s.sufficient for c in cols for s in c),
        "_cols": cols,
        "_wall": wall,
    }


def show(rows):
    cols = ["setting", "s/input", "model share", "evals/input", "SIS/input", "mean size", "all sufficient"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:.4f}" if isinstance(v, float) and c == "s/input" else
                         f"{100 * v:.1f}%" if c == "model share" else
                         f"{v:,.0f}" if c == "evals/input" else
                         f"{v:.2f}" if isinstance(v, float) else str(v))
        print("| " + " | ".join(cells) + " |")


def bench_mlp(n_inputs, threshold=0.9):
    X, y = digits8()
    clf = train_mlp8(X[:1200], y[:1200])
    acc = clf.score(X[1200:], y[1200:])
    masked = X[:1200].mean(axis=0)
    test = X[1200:]
    confident = test[clf.predict_proba(test).max(axis=1) >= threshold][:n_inputs]
    timed = Timed(clf.predict_proba)
    make = {m: (lambda m=m: SISExplainer(timed, threshold, masked_value=masked, mode=m)) for m in ("exact", "fast")}
    print(f"\n## sklearn MLP on digits 8x8 (64 features, test accuracy {acc:.3f}), "
          f"threshold {threshold}, mean masking, {len(confident)} inputs")
    rows = [
        run("exact, explain() per input", make["exact"], timed, confident, batch=False),
        run("exact, explain_batch()", make["exact"], timed, confident, batch=True),
        run("fast, explain_batch()", make["fast"], timed, confident, batch=True),
    ]
    # the peer, same inputs
    timed.seconds = 0.0
    t0 = time.perf_counter()
    ref = []
    for x, c in zip(confident, rows[0]["_cols"]):
        ref.append(reference_style_collection(timed, x, masked, threshold, c.target))
    wall = time.perf_counter() - t0
    rows.append({"setting": "reference behaviour (peer)", "s/input": wall / len(confident),
                 "model share": timed.seconds / wall, "evals/input": rows[0]["evals/input"],
                 "SIS/input": sum(map(len, ref)) / len(ref),
                 "mean size": float(np.mean([len(r[0]) for r in ref if r])), "all sufficient": "-"})
    # the floor, same inputs: a bare lockstep loop
    timed.seconds = 0.0
    targets = np.array([c.target for c in rows[1]["_cols"]])
    t0 = time.perf_counter()
    bare = bare_lockstep_collections(timed, confident, masked, threshold, targets)
    wall = time.perf_counter() - t0
    rows.append({"setting": "bare lockstep loop (floor)", "s/input": wall / len(confident),
                 "model share": timed.seconds / wall, "evals/input": rows[1]["evals/input"],
                 "SIS/input": sum(map(len, bare)) / len(bare),
                 "mean size": float(np.mean([len(b[0]) for b in bare if b])), "all sufficient": "-"})
    show(rows)
    agree = all(len(r) == len(c) and all(np.array_equal(np.ravel(a), b.indices.ravel()) for a, b in zip(r, c))
                for r, c in zip(ref, rows[0]["_cols"]))
    same_as_bare = all(len(b) == len(c) and all(sorted(x) == sorted(y.indices.ravel().tolist()) for x, y in zip(b, c))
                       for b, c in zip(bare, rows[1]["_cols"]))
    print(f"\nexact SIS identical to the reference behaviour: {agree}; to the bare loop's: {same_as_bare}")
    print(f"model-time share, exact explain_batch(): {100 * rows[1]['model share']:.1f}%, bare loop: "
          f"{100 * rows[4]['model share']:.1f}% (target: within 10 points of the bare loop)")
    print(f"speed-up over the reference behaviour: explain() {rows[3]['s/input'] / rows[0]['s/input']:.1f}x, "
          f"explain_batch() {rows[3]['s/input'] / rows[1]['s/input']:.1f}x")
    return rows


def fast_vs_exact(exact_cols, fast_cols):
    """Per input: first-SIS size of fast mode over exact mode's, and exact evaluations over fast
    ones. Prints the distributions (not means) against the targets."""
    size = np.array([len(f[0].indices.ravel()) / len(e[0].indices.ravel())
                     for e, f in zip(exact_cols, fast_cols) if len(e) and len(f)])
    fewer = np.array([e.n_evaluations / f.n_evaluations for e, f in zip(exact_cols, fast_cols)])
    sufficient = all(s.sufficient for c in fast_cols for s in c)
    print(f"fast vs exact, {len(size)} inputs: first-SIS size ratio median {np.median(size):.3f}, "
          f"p90 {np.quantile(size, 0.9):.3f}, max {size.max():.3f} (target <= 1.2 on every input); "
          f"evaluations {fewer.min():.0f}x to {fewer.max():.0f}x fewer, median {np.median(fewer):.0f}x "
          f"(target >= 20x); every fast SIS sufficient: {sufficient}")
    return size, fewer


def bench_mlp28(n_inputs, threshold=0.9):
    """Fast against exact mode on an sklearn MLP (64 hidden units) at 28x28: its probabilities
    saturate, where fast mode must measure its margin in log-odds."""
    from sklearn.neural_network import MLPClassifier

    X, y = digits28()
    flat = X.reshape(len(X), -1)
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=0).fit(flat[:1200], y[:1200])
    acc = clf.score(flat[1200:], y[1200:])
    test = flat[1200:]
    confident = test[clf.predict_proba(test).max(axis=1) >= threshold][:n_inputs]
    masked = float(flat[:1200].mean())
    timed = Timed(clf.predict_proba)
    model = as_model(timed, output_kind="probability")  # a plain function: say what it returns
    print(f"\n## sklearn MLP on digits upsampled to 28x28 (784 features, test accuracy {acc:.3f}), "
          f"threshold {threshold}, mean-pixel masking, {len(confident)} inputs")
    make = {m: (lambda m=m: SISExplainer(model, threshold, masked_value=masked, mode=m)) for m in ("exact", "fast")}
    exact = run("exact, explain_batch()", make["exact"], timed, confident, batch=True)
    fast = run("fast, explain_batch()", make["fast"], timed, confident, batch=True)
    show([exact, fast])
    fast_vs_exact(exact["_cols"], fast["_cols"])


def bench_cnn(n_exact, n_fast, threshold=0.7):
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    X, y = digits28()
    net = train_torch(small_cnn(), X[:1400], y[:1400], epochs=10)
    with torch.no_grad():
        acc = float((net(torch.from_numpy(X[1400:])).argmax(1).numpy() == y[1400:]).mean())
    model = as_model(net, postprocess="softmax")
    timed = Timed(model._predict)
    model._predict = timed  # time spent inside the model: tensor conversion + forward pass
    masked = float(X[:1400].mean())  # mean-pixel masking, as in the published MNIST study
    test = X[1400:]
    p = model(test)
    confident = test[p.max(axis=1) >= threshold]
    print(f"\n## torch CNN on digits upsampled to 28x28 (784 features, test accuracy {acc:.3f}), "
          f"threshold {threshold}, mean-pixel masking")
    make = {m: (lambda m=m: SISExplainer(model, threshold, masked_value=masked, groups=(1, 28, 28), mode=m))
            for m in ("exact", "fast")}
    exact = run(f"exact, {n_exact} inputs", make["exact"], timed, confident[:n_exact], batch=True)
    fast_same = run(f"fast, same {n_exact} inputs", make["fast"], timed, confident[:n_exact], batch=True)
    fast = run(f"fast, {n_fast} inputs", make["fast"], timed, confident[:n_fast], batch=True)
    show([exact, fast_same, fast])
    first = exact["_cols"][0]
    r = len(first[0].order)
    print(f"\nexact: {r} features -> backward selection alone {r * (r + 1) // 2:,} evaluations "
          f"(reference cost r(r+1)/2); measured {first.n_evaluations:,} for the whole collection")
    fast_vs_exact(exact["_cols"], fast_same["_cols"])
    print(f"every fast SIS of the {n_fast} inputs sufficient: {fast['all sufficient']}")
    print(f"exact model-time share {100 * exact['model share']:.1f}% (target >= 95%)")


def bench_energy(n_sis=6093, n_pairs=2000):
    """The paper's clustering scale: 6,093 SIS on a 28x28 grid (digit 4, CNN+MLP)."""
    from scipy.spatial.distance import cdist

    from blackbox_xai.analysis import energy_distances

    rng = np.random.default_rng(0)
    sets = []
    for _ in range(n_sis):
        k, centre = rng.integers(5, 40), rng.integers(4, 24, 2)
        sets.append(np.clip(centre + rng.integers(-4, 5, (k, 2)), 0, 27))
    t0 = time.perf_counter()
    energy_distances(sets)
    ours = time.perf_counter() - t0
    # the peer: one cdist-based energy distance per pair, as the original analysis computed it
    pairs = rng.integers(0, n_sis, (n_pairs, 2))
    t0 = time.perf_counter()
    for i, j in pairs:
        a, b = sets[i], sets[j]
        np.sqrt(max(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean(), 0))
    per_pair = (time.perf_counter() - t0) / n_pairs
    loop = per_pair * n_sis * (n_sis - 1) / 2
    print(f"\n## energy-distance matrix, {n_sis:,} SIS on a 28x28 grid")
    print(f"vectorised: {ours:.1f} s; pair-by-pair cdist loop (extrapolated from {n_pairs:,} pairs): "
          f"{loop / 60:.1f} min; ratio {loop / ours:.0f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer inputs")
    args = parser.parse_args(argv)
    bench_mlp(5 if args.quick else 20)
    bench_energy()
    bench_mlp28(4 if args.quick else 12)
    bench_cnn(1 if args.quick else 5, 4 if args.quick else 12)


if __name__ == "__main__":
    main()
