"""``LRP``: one entry point for kernel machines, text pipelines and descriptor (BoW / Fisher) pipelines."""
from __future__ import annotations

import numpy as np

from blackbox_xai.lrp.fisher import DensePatches, is_descriptor_encoder, pooling_relevance, spread_to_pixels
from blackbox_xai.lrp.result import Relevance
from blackbox_xai.lrp.rules import check_bias
from blackbox_xai.lrp.svm import explain_machine, machine_for, predicted_targets
from blackbox_xai.lrp.text import is_text_vectorizer, token_relevance


class LRP:
    """Layer-wise relevance propagation for models whose parameters can be read.

    Parameters
    ----------
    estimator : fitted scikit-learn estimator or Pipeline
        A kernel machine or linear model (see :data:`blackbox_xai.lrp.svm.SUPPORTED`);
        ``Pipeline([CountVectorizer | TfidfVectorizer, model])`` for text; or
        ``Pipeline([DensePatches?, BagOfWordsEncoder | FisherVectorEncoder, model])`` for images.
    eps : float
        Epsilon of the rule on the support-vector layer.
    bias : {"absorb", "ignore", "uniform"}
        "absorb": the bias keeps its share (``bias_share``); "ignore": explain ``f - b``;
        "uniform": ``b / D`` added to every dimension, so relevance sums to ``f``. RBF rules expand
        at a root of ``f`` (the bias lives in the root point; relevance sums to ``f``), or of
        ``f - b`` with "ignore".
    kernel_rule : str or rule object, optional
        For a callable or precomputed kernel: "intersection", "chi2", "linear", or an object of
        :mod:`blackbox_xai.lrp.rules`. Our kernel functions (``histogram_intersection``,
        ``additive_chi2``) are recognised; a rule that does not reproduce a callable kernel is
        refused.
    rbf : {"path", "taylor", "neuralized"}
        How an RBF kernel is explained (see :class:`~blackbox_xai.lrp.rules.RBFKernel`).
    X_train : array, optional
        Training inputs, needed for ``kernel="precomputed"`` (the support vectors are its rows).
    root, root_candidates : array, optional
        RBF: the root point(s) to expand at, or the points among which a root is searched (default:
        the support vectors).
    pooling_eps : float
        Epsilon of the pooling rule of BoW / Fisher-vector pipelines.
    """

    def __init__(self, estimator, *, eps=0.0, bias="absorb", kernel_rule=None, rbf="path", n_steps=64,
                 X_train=None, root=None, root_candidates=None, pooling_eps=0.0):
        self.estimator = estimator
        self.eps, self.bias, self.kernel_rule, self.rbf, self.n_steps = eps, bias, kernel_rule, rbf, n_steps
        self.X_train, self.root, self.root_candidates, self.pooling_eps = X_train, root, root_candidates, pooling_eps

    # -- the three kinds of models ---------------------------------------------------------------
    def explain(self, X, target=None) -> Relevance:
        """Relevance for every row of ``X`` (arrays (n, D); documents for text pipelines; images
        or descriptor sets for descriptor pipelines).

        ``target``: None (the predicted class of each row), a class label (``"sci.space"``), a
        tuple of two labels for a multi-class SVC, or a list with one of these per row.
        """
        check_bias(self.bias)
        if self.eps < 0 or self.pooling_eps < 0:
            raise ValueError(f"eps and pooling_eps must be >= 0, got {self.eps!r} and {self.pooling_eps!r}")
        steps = [s for _, s in getattr(self.estimator, "steps", [])]
        if steps and is_text_vectorizer(steps[0]):
            return self._explain_text(steps, X, target)
        if any(is_descriptor_encoder(s) for s in steps):
            return self._explain_descriptors(steps, X, target)
        if steps:
            raise TypeError(
                "LRP explains a Pipeline whose first step is a CountVectorizer/TfidfVectorizer, or "
                "that holds a BagOfWordsEncoder/FisherVectorEncoder; for other pipelines explain "
                "the final estimator on the transformed inputs"
            )
        X = self._as_2d(X)
        return self._explain_features(self.estimator, X, target)

    @staticmethod
    def _as_2d(X):
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None]
        if X.ndim != 2:
            raise ValueError(f"X must be (n, n_features), got shape {X.shape}")
        return X

    def _machine_options(self):
        return dict(kernel_rule=self.kernel_rule, rbf=self.rbf, n_steps=self.n_steps, X_train=self.X_train)

    def _targets(self, estimator, F, target):
        n = len(F)
        if target is None:
            return predicted_targets(estimator, F, **self._machine_options())
        if isinstance(target, (list, np.ndarray)):  # one per row (a pair of classes is a tuple)
            if len(target) != n:
                raise ValueError(f"target lists one class per row: got {len(target)} for {n} rows")
            return list(target)
        return [target] * n

    def _explain_features(self, estimator, F, target, rule_prefix=""):
        targets = self._targets(estimator, F, target)
        n, D = F.shape
        R, out, share = np.zeros((n, D)), np.zeros(n), np.zeros(n)
        R_sv, info = [None] * n, {}
        groups = {}
        for i, t in enumerate(targets):
            groups.setdefault(repr(t), (t, []))[1].append(i)
        rule = None
        for t, rows in groups.values():
            machine = machine_for(estimator, t, **self._machine_options())
            r, rsv, o, sh, extra = explain_machine(machine, F[rows], eps=self.eps, bias=self.bias,
                                                   root=self.root, root_candidates=self.root_candidates)
            R[rows], out[rows], share[rows] = r, o, sh
            for k, i in enumerate(rows):
                R_sv[i] = None if rsv is None else rsv[k]
                for key, value in extra.items():
                    info.setdefault(key, [None] * n)[i] = value[k] if isinstance(value, np.ndarray) else value
            rule = machine.rule
        lengths = {None if v is None else len(v) for v in R_sv}
        R_sv = None if lengths == {None} else np.stack(R_sv) if len(lengths) == 1 else R_sv
        desc = (f"{rule_prefix}{type(estimator).__name__} | {rule!r} | eps={self.eps:g}, bias={self.bias!r}")
        return Relevance(R, R_sv, out, share, targets, desc, info)

    def _explain_text(self, steps, docs, target):
        if isinstance(docs, str):
            docs = [docs]
        if len(steps) != 2:
            raise TypeError("a text pipeline for LRP is [CountVectorizer | TfidfVectorizer, model]")
        vec, model = steps
        F = vec.transform(docs).toarray()
        result = self._explain_features(model, F, target, rule_prefix=f"{type(vec).__name__} -> ")
        tokens, absent = zip(*(token_relevance(vec, doc, r) for doc, r in zip(docs, result.relevance)))
        result.info.update(tokens=list(tokens), absent=np.array(absent), docs=list(docs),
                           feature_names=list(vec.get_feature_names_out()))
        return result

    def _explain_descriptors(self, steps, X, target):
        k = next(i for i, s in enumerate(steps) if is_descriptor_encoder(s))
        encoder, rest = steps[k], steps[k + 1:]
        if len(rest) != 1 or any(not isinstance(s, DensePatches) for s in steps[:k]):
            raise TypeError("a descriptor pipeline for LRP is [DensePatches?, BagOfWordsEncoder | "
                            "FisherVectorEncoder, model]")
        patches = steps[0] if k == 1 else None
        images = None
        if patches is not None:
            images = np.asarray(X, dtype=float)
            if images.ndim == 2:
                images = images[None]
            descriptor_sets = patches.transform(images)
        else:
            descriptor_sets = [np.asarray(D, dtype=float) for D in X]
        codes = [encoder.local_codes(D) for D in descriptor_sets]
        F = encoder.normalize(np.stack([M.sum(axis=0) for M in codes]))
        result = self._explain_features(rest[0], F, target, rule_prefix=f"{type(encoder).__name__} -> ")
        # normalisation passes relevance through; pooling splits it among the descriptors
        local = [pooling_relevance(M, r, self.pooling_eps) for M, r in zip(codes, result.relevance)]
        result.info["descriptors"] = local
        if images is not None:
            boxes = patches.boxes(images.shape[1:])
            result.info["pixels"] = np.stack([spread_to_pixels(r, boxes, images.shape[1:]) for r in local])
        return result
