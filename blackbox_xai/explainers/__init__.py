"""Predict-only explainers: plans of masks plus estimators, all on the shared engine."""
from blackbox_xai.explainers.kernel_shap import KernelShapExplainer
from blackbox_xai.explainers.lime import LimeExplainer
from blackbox_xai.explainers.occlusion import OcclusionExplainer
from blackbox_xai.explainers.sis import SISExplainer

__all__ = ["SISExplainer", "KernelShapExplainer", "LimeExplainer", "OcclusionExplainer"]
