"""blackbox-xai: explain the decisions of any model you can call.

Public API::

    from blackbox_xai import SISExplainer, KernelShapExplainer, LimeExplainer, OcclusionExplainer
    SISExplainer(model.predict, threshold=0.9).explain(x)
    KernelShapExplainer(model, X_background, random_state=0).explain(x)

Models behind HTTP: ``as_model("http://host:8080/v2/models/m")`` (:class:`RemoteModel`). Models whose
parameters can be read (kernel SVMs, TF-IDF and Fisher-vector pipelines): ``LRP(estimator).explain(X)``
(:mod:`blackbox_xai.lrp`).

Execution: ``executor="ray"`` or :class:`RayExecutor`; dataset jobs in :mod:`blackbox_xai.jobs`;
analyses in :mod:`blackbox_xai.analysis`; plots in :mod:`blackbox_xai.plot`; the command line in
:mod:`blackbox_xai.cli`.
"""
from blackbox_xai._params import clone
from blackbox_xai.adapters import Model, RemoteModel, as_model
from blackbox_xai.engine import Engine
from blackbox_xai.exceptions import (
    AdapterNote,
    InformativeMaskError,
    InsufficientSISWarning,
    InvalidParameterError,
    ModelError,
    ModelOutputError,
    NoSISWarning,
    RemoteModelError,
    WorkerLostError,
)
from blackbox_xai.executors import RayExecutor, SerialExecutor, ThreadExecutor
from blackbox_xai.explainers import KernelShapExplainer, LimeExplainer, OcclusionExplainer, SISExplainer
from blackbox_xai.explanation import SIS, Attribution, Explanations, SISCollection
from blackbox_xai.features import BackgroundMean, FeatureSpace
from blackbox_xai.lrp import LRP
from blackbox_xai.result_files import load_result, result_from_json

__version__ = "0.1.0"

__all__ = [
    "SISExplainer",
    "KernelShapExplainer",
    "LimeExplainer",
    "OcclusionExplainer",
    "SIS",
    "Attribution",
    "Explanations",
    "SISCollection",
    "load_result",
    "result_from_json",
    "as_model",
    "clone",
    "Model",
    "RemoteModel",
    "LRP",
    "Engine",
    "SerialExecutor",
    "ThreadExecutor",
    "RayExecutor",
    "BackgroundMean",
    "FeatureSpace",
    "ModelError",
    "ModelOutputError",
    "RemoteModelError",
    "WorkerLostError",
    "InformativeMaskError",
    "InsufficientSISWarning",
    "NoSISWarning",
    "InvalidParameterError",
    "AdapterNote",
]
