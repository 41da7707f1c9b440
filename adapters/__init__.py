"""Adapters: any model behind one contract (see :class:`Model`).

``as_model(obj)`` recognises plain callables, scikit-learn estimators (and their bound prediction
methods such as ``clf.predict_proba``; a classifier's ``clf.predict`` is mapped to
``predict_proba``), torch modules, and URLs of models served over HTTP.
"""
from __future__ import annotations

import builtins
import inspect
import warnings
import weakref

from blackbox_xai.adapters.base import Model
from blackbox_xai.adapters.budget import BudgetedModel
from blackbox_xai.adapters.callable import CallableModel
from blackbox_xai.adapters.remote import RemoteModel
from blackbox_xai.adapters.sklearn import METHODS, SklearnModel, is_sklearn_estimator
from blackbox_xai.adapters.torch import TorchModel, is_torch_module
from blackbox_xai.exceptions import AdapterNote

__all__ = ["as_model", "Model", "BudgetedModel", "CallableModel", "SklearnModel", "TorchModel", "RemoteModel"]


def _bound_classifier_predict(obj):
    """``(classifier, method)`` when obj is ``clf.predict`` of a fitted sklearn classifier that has
    ``predict_proba`` (else ``decision_function``): the method explained instead of the labels."""
    if not inspect.ismethod(obj) or obj.__name__ != "predict" or not is_sklearn_estimator(obj.__self__):
        return None
    from sklearn.base import is_classifier

    owner = obj.__self__
    if is_classifier(owner):
        for method in ("predict_proba", "decision_function"):
            if hasattr(owner, method):
                return owner, method
    return None


def _bound_sklearn_method(obj):
    """``(estimator, name)`` when obj is a bound prediction method (``predict_proba``,
    ``decision_function``, ...) of a scikit-learn estimator."""
    if inspect.ismethod(obj) and obj.__name__ in METHODS and is_sklearn_estimator(obj.__self__):
        return obj.__self__, obj.__name__
    return None


_NOTED = weakref.WeakKeyDictionary()  # estimators whose note was shown: once per model


def _note_once(estimator, message):
    """An :class:`AdapterNote` on one line (no source line under it), once per estimator."""
    try:
        if _NOTED.get(estimator):
            return
        _NOTED[estimator] = True
    except TypeError:  # not weak-referenceable: note every time
        pass
    # a location with no source file: the warning prints as one line
    warnings.warn_explicit(message, AdapterNote, filename="blackbox_xai", lineno=0,
                           module="blackbox_xai.adapters")


def as_model(obj, **options) -> Model:
    """Return a :class:`Model` for ``obj``.

    Parameters
    ----------
    obj : Model, torch.nn.Module, sklearn estimator, callable, or URL
        A string ``http(s)://...`` is a served model (:class:`RemoteModel`); the protocol is read
        off the URL (``.../v2/models/<name>``, ``.../invocations``, ``.../v1/models/<name>``).
        A bound prediction method of a scikit-learn estimator (``clf.predict_proba``,
        ``reg.predict``, ...) gets the estimator's adapter. A bound ``clf.predict`` of a
        classifier is read through ``clf.predict_proba`` (class labels cannot be explained by a
        threshold), or ``clf.decision_function`` where it has no ``predict_proba`` (an SVC
        without ``probability=True``, LinearSVC, RidgeClassifier), with a one-line
        :class:`AdapterNote`, shown once per classifier.
    **options
        Passed to the adapter: ``method`` and ``chunk_bytes`` for sklearn; ``device``, ``dtype``,
        ``postprocess`` for torch; ``batch_size`` and, for callables, ``output_kind`` and
        ``input_dtype``; for URLs those of :class:`RemoteModel` (``output``, ``timeout``,
        ``retries``, ``max_batch_rows``, ...).
    """
    if isinstance(obj, Model):
        if options:
            raise ValueError(f"as_model got options {sorted(options)} for an already adapted {obj!r}")
        return obj
    if isinstance(obj, str):
        if not obj.startswith(("http://", "https://")):
            raise TypeError(
                f"as_model got the string {obj!r}; a string must be the http(s):// URL of a served "
                "model (load a saved model file yourself, or use the blackbox-xai command)"
            )
        return RemoteModel(obj, **options)
    if is_torch_module(obj):
        return TorchModel(obj, **options)
    if is_sklearn_estimator(obj):
        return SklearnModel(obj, **options)
    mapped = _bound_classifier_predict(obj)
    if mapped is not None:
        clf, method = mapped
        why = "" if method == "predict_proba" else f" ({type(clf).__name__} has no predict_proba)"
        _note_once(clf, f"{type(clf).__name__}.predict returns class labels; explaining {method} instead{why}")
        return SklearnModel(clf, method=method, **options)
    bound = _bound_sklearn_method(obj)
    # e.g. clf.predict_proba: the estimator's adapter (image inputs, input_dtype, chunk_bytes)
    if bound is not None and set(options) <= {"batch_size", "chunk_bytes"}:
        return SklearnModel(bound[0], method=bound[1], **options)
    # (the submodule adapters/callable.py shadows the builtin name in this package)
    if builtins.callable(obj):
        return CallableModel(obj, **options)
    raise TypeError(
        f"cannot use {type(obj).__name__} as a model: expected a callable, a scikit-learn "
        "estimator or a torch.nn.Module"
    )
