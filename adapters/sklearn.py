"""scikit-learn estimators and pipelines.

Classifiers are read through ``predict_proba`` (probabilities per class), regressors through
``predict``; ``method="decision_function"`` asks for margins. Inputs with more than two axes are
flattened to ``(B, n_features)`` so an 8x8 image can be explained with a model trained on 64
columns.
"""
from __future__ import annotations

import numpy as np

from blackbox_xai._validation import Interval, Options, check_fitted, validate_init_args
from blackbox_xai.adapters.base import Model

METHODS = ("auto", "predict_proba", "decision_function", "predict", "predict_log_proba")
# Bytes of input per call scikit-learn models run fastest at: the trees' predict walks every row
# once per tree, so rows that stay in cache between trees pay off (tree ensembles ran about a
# tenth faster in 3-8 MB calls than in one large call; linear models and MLPs do not care).
CHUNK_BYTES = 8 * 2**20
_KIND = {"predict_proba": "probability", "predict_log_proba": "logit", "decision_function": "score",
         "predict": "score"}


def is_sklearn_estimator(obj) -> bool:
    """True for scikit-learn estimators (and third-party ones following its API)."""
    try:
        from sklearn.base import BaseEstimator
    except ImportError:  # pragma: no cover - sklearn is a core dependency
        return False
    return isinstance(obj, BaseEstimator)


def _float32_estimator(estimator) -> bool:
    """True for scikit-learn's decision trees, forests and (classic) gradient boosting: their
    predict methods convert every input to float32 first (``check_array(X, dtype=np.float32)``;
    ``tests/test_adapters.py`` checks that the outputs agree)."""
    try:
        from sklearn.ensemble._forest import BaseForest
        from sklearn.ensemble._gb import BaseGradientBoosting
        from sklearn.tree._classes import BaseDecisionTree
    except ImportError:  # pragma: no cover - a scikit-learn that moved them: no claim
        return False
    return isinstance(estimator, (BaseDecisionTree, BaseForest, BaseGradientBoosting))


def _is_classifier(estimator) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(estimator))


class SklearnModel(Model):
    """Adapter for a fitted scikit-learn estimator.

    Parameters
    ----------
    estimator : sklearn estimator or Pipeline, fitted
    method : {"auto", "predict_proba", "decision_function", "predict", "predict_log_proba"}
        "auto": ``predict_proba`` for classifiers that have it, else ``decision_function`` for
        classifiers, else ``predict``.
    batch_size : int, optional
        Preferred rows per call.
    chunk_bytes : int or None
        Preferred bytes of input per call (default 8 MiB: cache-sized calls run faster than one
        large call, see ``CHUNK_BYTES``); None leaves the size to the explainer's
        ``memory_budget``.
    """

    _parameter_constraints = {
        "method": [Options(*METHODS)],
        "batch_size": [None, Interval(int, 1)],
        "chunk_bytes": [None, Interval(int, 1)],
    }

    def __init__(self, estimator, *, method: str = "auto", batch_size=None, chunk_bytes=CHUNK_BYTES):
        validate_init_args(self, locals())
        name = type(estimator).__name__
        check_fitted(estimator)
        if method == "auto":
            if _is_classifier(estimator):
                method = "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"
            else:
                method = "predict"
        if not hasattr(estimator, method):
            raise ValueError(f"estimator {name} has no method {method!r}")
        super().__init__(f"{name}.{method}", batch_size=batch_size)
        self.estimator = estimator
        self.method = method
        self.chunk_bytes = chunk_bytes
        self.output_kind = _KIND[method]
        classes = getattr(estimator, "classes_", None)
        if method in ("predict_proba", "predict_log_proba") and classes is not None:
            self.n_outputs = len(classes)
        self.classes_ = classes
        if _float32_estimator(estimator):
            self.input_dtype = np.dtype(np.float32)

    def _predict(self, batch):
        if batch.dtype.kind in "OUS" and batch.ndim == 1:  # documents for a text pipeline
            return getattr(self.estimator, self.method)(list(batch))
        data = batch.reshape(batch.shape[0], -1) if batch.ndim != 2 else batch
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is not None:
            try:
                import pandas as pd
            except ImportError:
                pass
            else:
                data = pd.DataFrame(data, columns=names)
        return getattr(self.estimator, self.method)(data)
