"""Analyses built on explanations: SIS clustering, model comparison, and how good an explanation is
(region perturbation / AOPC, word deletion)."""
from blackbox_xai.analysis.compare import ModelComparison, compare_models
from blackbox_xai.analysis.metrics import (PerturbationCurve, PerturbationSummary, perturbation_summary,
                                           region_perturbation, relevance_map, word_deletion)
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
           "cross_check", "CrossCheck", "compare_models", "ModelComparison", "region_perturbation",
           "word_deletion", "relevance_map", "PerturbationCurve", "perturbation_summary", "PerturbationSummary"]
