"""The LRP path: relevance for models whose parameters can be read (not only called).

Kernel SVMs and linear models (:mod:`.svm`), text pipelines down to tokens (:mod:`.text`),
bag-of-words and Fisher-vector pipelines down to descriptors and pixels (:mod:`.fisher`), all
built from the small rules of :mod:`.rules`, behind one entry point::

    from blackbox_xai.lrp import LRP
    result = LRP(pipeline).explain(docs, target="sci.space")
    result.relevance, result.bias_share, result.residual, result.info["tokens"]
"""
from blackbox_xai.lrp.explainer import LRP
from blackbox_xai.lrp.fisher import (BagOfWordsEncoder, DensePatches, FisherVectorEncoder, pooling_relevance,
                                     spread_to_pixels)
from blackbox_xai.lrp.result import Relevance
from blackbox_xai.lrp.rules import (AdditiveKernel, LinearKernel, PolynomialKernel, RBFKernel, additive_chi2,
                                    histogram_intersection, softmin_relevance)

__all__ = ["LRP", "Relevance", "BagOfWordsEncoder", "FisherVectorEncoder", "DensePatches",
           "pooling_relevance", "spread_to_pixels", "LinearKernel", "PolynomialKernel", "AdditiveKernel",
           "RBFKernel", "histogram_intersection", "additive_chi2", "softmin_relevance"]
