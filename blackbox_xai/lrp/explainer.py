"""``LRP``: one entry point for kernel machines, text pipelines and descriptor (BoW / Fisher) pipelines."""
from __future__ import annotations

import numpy as np

from blackbox_xai._params import ParamsMixin
from blackbox_xai._validation import ArrayLike, Instance, Interval, Options, check_array, check_fitted
from blackbox_xai.lrp.fisher import DensePatches, is_descriptor_encoder, pooling_relevance, spread_to_pixels
from blackbox_xai.lrp.result import Relevance
from blackbox_xai.lrp.rules import BIAS, AdditiveKernel, LinearKernel, PolynomialKernel, RBFKernel, dense
from blackbox_xai.lrp.svm import KERNEL_RULES, explain_machine, machine_for, predicted_targets
from blackbox_xai.lrp.text import is_text_vectorizer, token_relevance


class LRP(ParamsMixin):
    """Layer-wise relevance propagation for models whose parameters can be read.

    Parameters
    ----------
    estimator : fitted scikit-learn estimator or Pipeline
        A kernel machine or linear model (see :data:`blackbox_xai.lrp.svm.SUPPORTED`);
        ``Pipeline([CountVectorizer | TfidfVectorizer, model])`` for text; or
        ``Pipeline([DensePatches?, BagOfWordsEncoder | FisherVectorEncoder, model])`` for images.
        Scalers that do not mix features (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler,
        Normalizer, TfidfTransformer) may stand before the model: relevance passes through them to
        the feature each scaled value came from.
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

    _parameter_constraints = {
        "estimator": "no_validation",  # what it can explain is checked by its structure
        "eps": [Interval(float, 0)],
        "bias": [Options(*BIAS)],
        "kernel_rule": [None, Options(*KERNEL_RULES),
                        Instance("a rule object", LinearKernel, PolynomialKernel, AdditiveKernel, RBFKernel)],
        "rbf": [Options(*RBFKernel.METHODS)],
        "n_steps": [Interval(int, 1)],
        "X_train": [None, ArrayLike()],
        "root": [None, ArrayLike()],
        "root_candidates": [None, ArrayLike()],
        "pooling_eps": [Interval(float, 0)],
    }

    def __init__(self, estimator, *, eps=0.0, bias="absorb", kernel_rule=None, rbf="path", n_steps=64,
                 X_train=None, root=None, root_candidates=None, pooling_eps=0.0):
        self.estimator = estimator
        self.eps, self.bias, self.kernel_rule, self.rbf, self.n_steps = eps, bias, kernel_rule, rbf, n_steps
        self.X_train, self.root, self.root_candidates, self.pooling_eps = X_train, root, root_candidates, pooling_eps

    # -- the three kinds of models ---------------------------------------------------------------
    def explain(self, x, target=None) -> Relevance:
        """Relevance for one input ``x``: a row (D,), a document (str) for a text pipeline, an
        image (H, W) or a descriptor set (k, d) for a descriptor pipeline. A :class:`Relevance`
        of one row; ``target`` as in :meth:`explain_batch`, for this input."""
        kind = self._kind()
        if kind == "text":
            if not isinstance(x, str):
                raise ValueError(f"a text pipeline's explain takes one document (str), got {type(x).__name__}; "
                                 "use explain_batch for a list of documents")
            return self.explain_batch([x], [target] if target is not None else None)
        one_ndim = 2 if kind == "descriptors" else 1
        if isinstance(x, str) or np.ndim(x) != one_ndim:
            what = {"features": "a row (D,)", "descriptors": "an image (H, W) or a descriptor set (k, d)"}[kind]
            raise ValueError(f"explain takes one input, {what}; got {_describe(x)}: use explain_batch for several")
        return self.explain_batch([x] if kind == "descriptors" else np.asarray(x)[None],
                                  [target] if target is not None else None)

    def explain_batch(self, X, target=None) -> Relevance:
        """Relevance for every input of ``X`` (rows (n, D); documents for text pipelines; images
        (n, H, W) or descriptor sets for descriptor pipelines), as one :class:`Relevance` whose
        arrays lead with the input (``result[i]`` is input i's).

        ``target``: None (the predicted class of each row), a class label (``"sci.space"``), a
        tuple of two labels for a multi-class SVC, or a list with one of these per row.
        """
        self._validate_params()
        check_fitted(self.estimator)
        head, through, final = self._steps()
        steps = head + through + [final]
        if not head:
            X = self._as_2d(X)
            # a precomputed kernel was fitted on kernel rows; X_train's width is checked with it
            precomputed = getattr(final, "kernel", None) == "precomputed"
            expected = None if precomputed else getattr(steps[0], "n_features_in_", None)
            if expected is not None and X.shape[1] != expected:
                raise ValueError(f"X has {X.shape[1]} features but the model was fitted on {expected}")
            return self._explain_features(final, _apply(through, X), target, _prefix(through))
        if len(head) == 1 and is_text_vectorizer(head[0]):
            return self._explain_text(head[0], through, final, X, target)
        if is_descriptor_encoder(head[-1]) and all(isinstance(s, DensePatches) for s in head[:-1]) and len(head) <= 2:
            return self._explain_descriptors(head, through, final, X, target)
        raise TypeError(
            "LRP explains a Pipeline of [CountVectorizer | TfidfVectorizer] or [DensePatches?, "
            "BagOfWordsEncoder | FisherVectorEncoder], then any of "
            f"{', '.join(c.__name__ for c in _pass_through_types())} (relevance passes through them), "
            f"then the model; this one has {[type(s).__name__ for s in steps]}. For other pipelines "
            "explain the final estimator on the transformed inputs"
        )

    def _steps(self):
        """``(head, through, final)``: the steps before the pass-through scalers, the scalers, and
        the model."""
        steps = [s for _, s in getattr(self.estimator, "steps", [])] or [self.estimator]
        start = len(steps) - 1
        while start > 0 and is_pass_through(steps[start - 1]):
            start -= 1
        return steps[:start], steps[start:-1], steps[-1]

    def _kind(self) -> str:
        """"features", "text" or "descriptors": what one input is."""
        head = self._steps()[0]
        if head and len(head) == 1 and is_text_vectorizer(head[0]):
            return "text"
        if head and is_descriptor_encoder(head[-1]):
            return "descriptors"
        return "features"

    @staticmethod
    def _as_2d(X):
        X = check_array(X, "X")
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

    def _explain_text(self, vec, through, model, docs, target):
        if isinstance(docs, str):
            docs = [docs]
        docs = list(docs)
        for i, doc in enumerate(docs):
            if not isinstance(doc, str):
                raise ValueError(f"a text pipeline explains documents (strings); X[{i}] is "
                                 f"{type(doc).__name__} {doc!r:.40}")
        F = dense(_apply(through, vec.transform(docs)))
        result = self._explain_features(model, F, target, _prefix([vec] + through))
        tokens, absent = zip(*(token_relevance(vec, doc, r) for doc, r in zip(docs, result.relevance)))
        result.info.update(tokens=list(tokens), absent=np.array(absent), docs=list(docs),
                           feature_names=list(vec.get_feature_names_out()))
        return result

    def _explain_descriptors(self, head, through, model, X, target):
        encoder = head[-1]
        patches = head[0] if len(head) == 2 else None
        images = None
        if patches is not None:
            images = check_array(X, "X", min_ndim=2)
            if images.ndim == 2:
                images = images[None]
            descriptor_sets = patches.transform(images)
        else:
            descriptor_sets = [check_array(D, f"X[{i}]", min_ndim=2) for i, D in enumerate(X)]
        codes = [encoder.local_codes(D) for D in descriptor_sets]
        F = _apply(through, encoder.normalize(np.stack([M.sum(axis=0) for M in codes])))
        result = self._explain_features(model, F, target, _prefix([encoder] + through))
        # normalisation passes relevance through; pooling splits it among the descriptors
        local = [pooling_relevance(M, r, self.pooling_eps) for M, r in zip(codes, result.relevance)]
        result.info["descriptors"] = local
        if images is not None:
            boxes = patches.boxes(images.shape[1:])
            result.info["pixels"] = np.stack([spread_to_pixels(r, boxes, images.shape[1:]) for r in local])
        return result


def _describe(x) -> str:
    return f"a {type(x).__name__}" if isinstance(x, str) else f"shape {np.shape(x)}"


def _pass_through_types():
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, Normalizer, RobustScaler, StandardScaler

    return (StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, Normalizer, TfidfTransformer)


def is_pass_through(step) -> bool:
    """Transformers that rescale each feature (or each row) without mixing features: relevance of
    a transformed feature is the relevance of the feature it came from."""
    return isinstance(step, _pass_through_types())


def _apply(steps, F):
    for step in steps:
        F = step.transform(F)
    return F


def _prefix(steps):
    return "".join(f"{type(s).__name__} -> " for s in steps)
