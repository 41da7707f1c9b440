"""LRP for fitted scikit-learn kernel machines and linear models.

:func:`machine_for` reads the parameters of one decision function (for one target) into a
:class:`KernelMachine`; :func:`explain_machine` applies the rules of :mod:`blackbox_xai.lrp.rules`
to it. Multi-class SVC is one-vs-one: a target is a pair of classes, whose own decision function
is explained (the votes of ``decision_function_shape="ovr"`` are never decomposed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from blackbox_xai.lrp.rules import (AdditiveKernel, LinearKernel, PolynomialKernel, RBFKernel, check_bias, dense,
                                    epsilon_scale, kernel_rule_for, softmin_relevance, sv_relevance)

SUPPORTED = ("SVC and NuSVC (kernel linear, poly, rbf, a callable additive kernel, or precomputed with "
             "X_train=), SVR, NuSVR, OneClassSVM, LinearSVC, LinearSVR, LogisticRegression, linear "
             "regressors (LinearRegression, Ridge, ...), and OneVsRestClassifier of any of these")
KERNEL_RULES = {"linear": LinearKernel, "intersection": lambda: AdditiveKernel("intersection"),
                "chi2": lambda: AdditiveKernel("chi2")}


@dataclass
class KernelMachine:
    """``f(x) = sum_i a_i k(s_i, x) + b`` for one target (a linear model: ``S = w[None]``, ``a = [1]``)."""

    S: np.ndarray
    a: np.ndarray
    b: float
    rule: object
    linear: bool = False
    softmin: bool = False  # one-class RBF: explain o(x) = -log sum_j a_j k(x, s_j) instead

    def decision(self, X):
        if self.softmin:
            return np.array([softmin_relevance(self.S, self.a, self.rule.gamma, x)[0] for x in X])
        if isinstance(self.rule, RBFKernel):
            return self.rule.value(self.S, self.a, X) + self.b
        return np.array([self.a @ self.rule.kernel(self.S, x) for x in X]) + self.b


def _name(estimator):
    return type(estimator).__name__


def _classes(estimator):
    return np.asarray(getattr(estimator, "classes_", [])).tolist()


def _class_index(estimator, label):
    classes = _classes(estimator)
    for i, c in enumerate(classes):
        if c == label or (isinstance(label, str) and str(c) == label):
            return i
    raise ValueError(f"target {label!r} is not a class of this {_name(estimator)}; classes: {classes}")


def _kernel_rule(estimator, kernel_rule, rbf, n_steps):
    kernel = estimator.kernel
    if isinstance(kernel_rule, str):
        if kernel_rule not in KERNEL_RULES:
            raise ValueError(f"kernel_rule must be one of {sorted(KERNEL_RULES)} or a rule object, got {kernel_rule!r}")
        kernel_rule = KERNEL_RULES[kernel_rule]()
    if kernel == "linear":
        return kernel_rule or LinearKernel()
    if kernel == "poly":
        return PolynomialKernel(estimator._gamma, estimator.coef0, estimator.degree)
    if kernel == "rbf":
        return RBFKernel(estimator._gamma, method=rbf, n_steps=n_steps)
    if callable(kernel):
        rule = kernel_rule or kernel_rule_for(kernel)
        if rule is None:
            raise ValueError(
                f"{_name(estimator)} has the callable kernel {getattr(kernel, '__name__', kernel)!r}, "
                "whose decomposition is unknown: pass kernel_rule= ('intersection', 'chi2', 'linear' or "
                "a rule object), or use blackbox_xai.lrp.histogram_intersection / additive_chi2"
            )
        return rule
    if kernel == "precomputed":
        if kernel_rule is None:
            raise ValueError(f"{_name(estimator)}(kernel='precomputed') needs kernel_rule= and X_train=")
        return kernel_rule
    raise ValueError(f"{_name(estimator)}(kernel={kernel!r}) is not supported; supported: {SUPPORTED}")


def _check_rule_matches(rule, kernel, S):
    """Refuse a rule that does not compute the callable kernel (e.g. the additive rule asked for a
    kernel that is not additive)."""
    sample = S[: min(len(S), 20)]
    want = np.asarray(kernel(sample, sample), dtype=float)
    got = np.array([rule.kernel(sample, x) for x in sample]).T
    if not np.allclose(got, want, rtol=1e-9, atol=1e-12):
        gap = float(np.abs(got - want).max())
        raise ValueError(
            f"the callable kernel {getattr(kernel, '__name__', kernel)!r} is not the kernel of {rule!r} "
            f"(they differ by up to {gap:.3g} on the support vectors): the rule would not decompose it"
        )


def _support_vectors(estimator, X_train):
    """The support vectors; sklearn keeps none for precomputed kernels (and, since 1.x, none for
    callable kernels, whose training inputs it holds privately)."""
    if X_train is not None:
        X_train = dense(X_train)
        if len(X_train) != estimator.shape_fit_[0]:
            raise ValueError(f"X_train has {len(X_train)} rows but the model was fitted on {estimator.shape_fit_[0]}")
        return X_train[estimator.support_]
    if estimator.kernel == "precomputed":
        raise ValueError(f"{_name(estimator)}(kernel='precomputed') needs X_train= (the training inputs)")
    S = dense(estimator.support_vectors_)
    if S.size == 0 and callable(estimator.kernel):
        fit_X = getattr(estimator, "_BaseLibSVM__Xfit", None)
        if fit_X is None:
            raise ValueError(f"{_name(estimator)} with a callable kernel keeps no support vectors: pass X_train=")
        S = dense(fit_X)[estimator.support_]
    return S


def machine_for(estimator, target, *, kernel_rule=None, rbf="path", n_steps=64, X_train=None):
    """The :class:`KernelMachine` of ``estimator``'s decision function for ``target``.

    ``target`` is a class label (binary and one-vs-rest models), a pair of labels (multi-class
    SVC), or None (regressors, one-class models).
    """
    from sklearn.multiclass import OneVsRestClassifier

    name = _name(estimator)
    if isinstance(estimator, OneVsRestClassifier):
        k = _class_index(estimator, target)
        if len(estimator.estimators_) == 1:  # two classes: one estimator, for the second class
            inner, label = estimator.estimators_[0], estimator.estimators_[0].classes_[k]
        else:
            inner = estimator.estimators_[k]
            label = inner.classes_[1]
        return machine_for(inner, label, kernel_rule=kernel_rule, rbf=rbf, n_steps=n_steps, X_train=X_train)
    if hasattr(estimator, "dual_coef_") and hasattr(estimator, "kernel"):
        rule = _kernel_rule(estimator, kernel_rule, rbf, n_steps)
        S = _support_vectors(estimator, X_train)
        if callable(estimator.kernel):
            _check_rule_matches(rule, estimator.kernel, S)
        dual, intercept = dense(estimator.dual_coef_), dense(estimator.intercept_)
        if name == "OneClassSVM":
            _no_target(estimator, target)
            if isinstance(rule, RBFKernel):
                return KernelMachine(S, dual[0], 0.0, rule, softmin=True)
            return KernelMachine(S, dual[0], float(intercept[0]), rule)
        classes = _classes(estimator)
        if len(classes) <= 2:
            if not classes:
                _no_target(estimator, target)
                sign = 1.0
            else:
                sign = 1.0 if _class_index(estimator, target) == 1 else -1.0
            return KernelMachine(S, sign * dual[0], sign * float(intercept[0]), rule)
        pair = target if isinstance(target, (tuple, list)) and len(target) == 2 else None
        if pair is None:
            raise ValueError(
                f"{name} with {len(classes)} classes is one-vs-one: target must be a pair of classes, "
                f"e.g. target=({classes[0]!r}, {classes[1]!r}) (its positive side is the first class); "
                "or wrap the SVC in OneVsRestClassifier to explain one class"
            )
        i, j = (_class_index(estimator, c) for c in pair)
        if i == j:
            raise ValueError(f"target pair {pair!r} names the same class twice")
        sign = 1.0 if i < j else -1.0
        i, j = min(i, j), max(i, j)
        starts = np.r_[0, np.cumsum(estimator.n_support_)]
        si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
        p = sum(len(classes) - 1 - k for k in range(i)) + (j - i - 1)
        a = np.r_[dual[j - 1, si], dual[i, sj]]
        return KernelMachine(np.r_[S[si], S[sj]], sign * a, sign * float(intercept[p]), rule)
    if hasattr(estimator, "coef_"):
        coef = np.atleast_2d(np.asarray(estimator.coef_, float))
        intercept = np.ravel(np.asarray(getattr(estimator, "intercept_", 0.0), float))
        intercept = np.broadcast_to(intercept, (len(coef),))
        classes = _classes(estimator)
        if not classes:
            _no_target(estimator, target)
            if len(coef) != 1:
                raise ValueError(f"{name} has {len(coef)} outputs; LRP explains single-output regressors")
            k, sign = 0, 1.0
        elif len(coef) == 1:
            k, sign = 0, (1.0 if _class_index(estimator, target) == 1 else -1.0)
        else:
            k, sign = _class_index(estimator, target), 1.0
        return KernelMachine(sign * coef[k][None], np.ones(1), sign * float(intercept[k]), LinearKernel(),
                             linear=True)
    raise TypeError(f"LRP cannot explain {name}; supported: {SUPPORTED}")


def _no_target(estimator, target):
    if target is not None:
        raise ValueError(f"{_name(estimator)} has a single output: target must be None, got {target!r}")


def predicted_targets(estimator, X, **machine_options):
    """The class each row of X is assigned to, from the decision functions (None for regressors)."""
    from sklearn.multiclass import OneVsRestClassifier

    classes = _classes(estimator)
    if not classes or _name(estimator) == "OneClassSVM":
        return [None] * len(X)
    if len(classes) > 2 and not isinstance(estimator, OneVsRestClassifier) and hasattr(estimator, "dual_coef_"):
        raise ValueError(
            f"{_name(estimator)} with {len(classes)} classes is one-vs-one: pass target=(class_a, class_b); "
            "LRP does not decompose its one-vs-rest votes"
        )
    if len(classes) == 2:
        f = machine_for(estimator, classes[1], **machine_options).decision(X)
        return [classes[1] if v > 0 else classes[0] for v in f]
    scores = np.stack([machine_for(estimator, c, **machine_options).decision(X) for c in classes], axis=1)
    return [classes[k] for k in scores.argmax(axis=1)]


def explain_machine(machine: KernelMachine, X, *, eps=0.0, bias="absorb", root=None, root_candidates=None):
    """``(relevance (n, D), relevance_sv (n, n_sv), output (n,), bias_share (n,), info)``."""
    check_bias(bias)
    X = np.asarray(X, dtype=float)
    n, D = X.shape
    if D != machine.S.shape[1]:
        raise ValueError(f"X has {D} features but the model was fitted on {machine.S.shape[1]}")
    R = np.zeros((n, D))
    R_sv = np.zeros((n, len(machine.a)))
    output, share = np.zeros(n), np.zeros(n)
    info = {}
    rule = machine.rule
    if machine.softmin:
        for r, x in enumerate(X):
            output[r], R[r], R_sv[r] = softmin_relevance(machine.S, machine.a, rule.gamma, x)
        return R, R_sv, output, share, info
    if isinstance(rule, RBFKernel):
        return _explain_rbf(machine, X, bias, root, root_candidates)
    for r, x in enumerate(X):
        z = machine.a * rule.kernel(machine.S, x)
        R_sv[r], share[r], uniform = sv_relevance(z, machine.b, eps=eps, bias=bias)
        # R_i = z_i * scale, the same scale for every i: R_d = scale * sum_i a_i c_id (LRP-0 inside
        # each support vector), without dividing by k_i
        scale = epsilon_scale(z, machine.b, eps=eps, bias=bias)
        R[r] = scale * (machine.a @ rule.contributions(machine.S, x)) + uniform / D
        output[r] = z.sum() + machine.b
    return R, (None if machine.linear else R_sv), output, share, info


def _explain_rbf(machine, X, bias, root, root_candidates):
    rule, S, a, b = machine.rule, machine.S, machine.a, machine.b
    n, D = X.shape
    R, R_sv = np.zeros((n, D)), None
    output, share = np.zeros(n), np.zeros(n)
    if rule.method == "neuralized":
        for r, x in enumerate(X):
            output[r], R[r], share[r] = rule.neuralized(S, a, x)
        return R, R_sv, output, share, {"explains": "log-odds log(sum_+ a k) - log(sum_- |a| k)"}
    # the bias lives in the root point: expand at a root of f, unless it is ignored (root of f - b)
    offset = 0.0 if bias == "ignore" else -b
    candidates = S if root_candidates is None else np.asarray(root_candidates, dtype=float)
    roots = np.zeros((n, D))
    for r, x in enumerate(X):
        if root is not None:
            roots[r] = np.broadcast_to(np.asarray(root, dtype=float), (n, D))[r]
        else:
            roots[r] = rule.find_root(S, a, x, offset, candidates)
        R[r] = rule.relevance(S, a, x, roots[r])
        output[r] = rule.value(S, a, x[None])[0] + b
        share[r] = b if bias == "ignore" else 0.0
    return R, R_sv, output, share, {"root": roots}
