"""Analyses built on explanations: SIS clustering and model comparison."""
from blackbox_xai.analysis.compare import ModelComparison, compare_models
from blackbox_xai.analysis.sis_clustering import (
    CrossCheck,
    SISComparison,
    cluster_sis,
    compare_sis,
    cross_check,
    energy_distances,
    jaccard_distances,
)

__all__ = ["energy_distances", "jaccard_distances", "cluster_sis", "compare_sis", "SISComparison",
           "cross_check", "CrossCheck", "compare_models", "ModelComparison"]
