"""KernelSHAP through a real model server (MLServer, Open Inference Protocol v2) against the same
model in this process, side by side in one run.

Setting: load_breast_cancer (30 features), a StandardScaler + LogisticRegression
pipeline's predict_proba, 20 background rows, 512 coalitions, 50 rows explained. MLServer runs
from its own virtualenv on 127.0.0.1 (built and cached by tests/model_servers.py on first use,
~75 s). Printed: wall time remote and local and their ratio, model rows evaluated, requests sent
against evaluations / max_batch_rows, retries, and how far remote values are from local ones
(a BLAS-backed model may change the last bits with the size of a request).

    python benchmarks/remote_bench.py                     # ~1 minute once the venv exists
    python benchmarks/remote_bench.py --max-batch-rows 4096 --concurrency 2
    python benchmarks/remote_bench.py --float32           # FP32 inputs, in their shortest exact text
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import model_servers  # noqa: E402

from blackbox_xai import KernelShapExplainer  # noqa: E402
from blackbox_xai.adapters import RemoteModel  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50)
    parser.add_argument("--samples", type=int, default=512, help="coalitions per explanation")
    parser.add_argument("--background-rows", type=int, default=20)
    parser.add_argument("--max-batch-rows", type=int, default=1024)
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    parser.add_argument("--float32", action="store_true",
                        help="explain float32 inputs: they travel as FP32, the local run sees the same float32 rows")
    args = parser.parse_args()

    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    background, rows = X[: args.background_rows], X[100:100 + args.rows]
    if args.float32:
        background, rows = background.astype(np.float32), rows.astype(np.float32)
    kwargs = dict(background=background, n_samples=args.samples, random_state=0)

    with tempfile.TemporaryDirectory() as work:
        joblib.dump(clf, os.path.join(work, "model.joblib"))
        url, server = model_servers.start_mlserver(os.path.join(work, "model.joblib"), work)
        try:
            print(f"MLServer 1.7.1 ready in {server.startup_s:.1f} s at {url}")
            remote = RemoteModel(url, output="predict_proba", max_batch_rows=args.max_batch_rows,
                                 max_concurrency=args.concurrency)
            remote(rows[:1])  # readiness check and first connection, outside the timing
            remote.n_requests = 0
            start = time.perf_counter()
            got = KernelShapExplainer(remote, **kwargs).explain_batch(rows)
            remote_s = time.perf_counter() - start
        finally:
            server.stop()

    start = time.perf_counter()
    want = KernelShapExplainer(clf, **kwargs).explain_batch(rows)
    local_s = time.perf_counter() - start

    evaluations = sum(a.n_evaluations for a in got)
    scale = max(float(np.abs(b.values).max()) for b in want)
    largest = max(float(np.abs(a.values - b.values).max()) for a, b in zip(got, want))
    ideal = math.ceil(evaluations / args.max_batch_rows)
    print(f"{args.rows} rows, {X.shape[1]} features, {args.samples} coalitions x {len(background)} "
          f"background rows: {evaluations:,} model rows evaluated")
    print(f"{'':<10}{'wall s':>9}{'ms/row':>9}")
    print(f"{'remote':<10}{remote_s:>9.2f}{1e3 * remote_s / args.rows:>9.1f}")
    print(f"{'local':<10}{local_s:>9.2f}{1e3 * local_s / args.rows:>9.1f}")
    print(f"remote / local: {remote_s / local_s:.1f}x")
    print(f"requests sent: {remote.n_requests} (evaluations / max_batch_rows = {evaluations / args.max_batch_rows:.1f}; "
          f"ratio {remote.n_requests / ideal:.2f}), retries {remote.n_retries}")
    print(f"largest |remote - local|: {largest:.1e} ({largest / scale:.1e} of the largest value)")


if __name__ == "__main__":
    main()
