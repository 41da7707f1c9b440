"""Predict-only explainers: plans of masks plus estimators, all on the shared engine."""
from blackbox_xai.explainers.sis import SISExplainer

__all__ = ["SISExplainer"]
