"""blackbox-xai: explain the decisions of any model you can call.

Public API::

    from blackbox_xai import SISExplainer, as_model, BackgroundMean
    SISExplainer(model.predict, threshold=0.9).explain(x)
"""
from blackbox_xai.adapters import Model, as_model
from blackbox_xai.engine import Engine
from blackbox_xai.exceptions import (
    AdapterNote,
    InformativeMaskError,
    InsufficientSISWarning,
    ModelError,
    ModelOutputError,
)
from blackbox_xai.executors import RayExecutor, SerialExecutor, ThreadExecutor
from blackbox_xai.explainers import KernelShapExplainer, LimeExplainer, OcclusionExplainer, SISExplainer
from blackbox_xai.explanation import SIS, Attribution, SISCollection
from blackbox_xai.features import BackgroundMean, FeatureSpace

__version__ = "0.1.0"

__all__ = [
    "SISExplainer",
    "KernelShapExplainer",
    "LimeExplainer",
    "OcclusionExplainer",
    "SIS",
    "Attribution",
    "SISCollection",
    "as_model",
    "Model",
    "Engine",
    "SerialExecutor",
    "ThreadExecutor",
    "RayExecutor",
    "BackgroundMean",
    "FeatureSpace",
    "ModelError",
    "ModelOutputError",
    "InformativeMaskError",
    "InsufficientSISWarning",
    "AdapterNote",
]
