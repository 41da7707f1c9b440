"""One BLAS thread for the explainers' own small linear algebra.

The regressions of KernelSHAP and LIME multiply matrices of a few thousand rows by tens of
columns. A multithreaded BLAS wakes its threads for each of them, and they keep spinning for a
while afterwards, taking cores from the model's next call (benchmarks/shap_bench.py shows the
difference). The model's own BLAS calls are not limited.
"""
from __future__ import annotations

import contextlib

_controller = None


def single_blas_thread():
    """A context manager that limits BLAS to one thread within it (a no-op without
    threadpoolctl >= 3, which scikit-learn installs)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
            return contextlib.nullcontext()
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
