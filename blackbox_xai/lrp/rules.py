"""Small LRP rules for kernel machines (Bach et al. 2015; Kauffmann et al. for neuralization).

A kernel machine ``f(x) = sum_i a_i k(s_i, x) + b`` has two layers: support vectors
``z_i = a_i k(s_i, x)``, then input dimensions. Three pieces compose:

* :func:`stabilize` and :func:`sv_relevance`: the epsilon rule on the support-vector layer, with
  the bias handled as ``"ignore"`` (explain ``f - b``), ``"absorb"`` (the bias is one more input
  and keeps its share) or ``"uniform"`` (``b / D`` added to every dimension, so relevance sums to
  ``f``).
* Kernel rules (:class:`LinearKernel`, :class:`PolynomialKernel`, :class:`AdditiveKernel`): each
  computes the kernel and its *contributions* ``c_id``, the part of ``k(s_i, x)`` owed to
  dimension ``d``, so that ``R_d = sum_i R_i c_id / k_i`` (LRP-0 inside each support vector).
  Linear and additive kernels split exactly (``sum_d c_id = k_i``); a polynomial kernel's
  ``coef0`` absorbs its share.
* Rules that explain the whole function rather than one support vector at a time:
  :class:`RBFKernel` (Taylor expansion at a root point, the path integral from it, or the
  neuralized log-odds) and :func:`softmin_relevance` (one-class models / KDE).

Every rule is a plain NumPy computation; the estimators in :mod:`blackbox_xai.lrp.svm` read the
fitted parameters and apply them.
"""
from __future__ import annotations

import numpy as np

BIAS = ("ignore", "absorb", "uniform")


def sgn(z):
    """Sign with sgn(0) = +1 (the epsilon rule never divides by ``0 + 0``)."""
    return np.where(np.asarray(z) >= 0, 1.0, -1.0)


def stabilize(z, eps):
    """``z + eps * sgn(z)``."""
    return np.asarray(z, dtype=float) + eps * sgn(z)


def safe_divide(num, den):
    """``num / den`` with 0 where ``den == 0`` (a zero input carries no relevance)."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def check_bias(bias):
    if bias not in BIAS:
        raise ValueError(f"bias must be one of {list(BIAS)}, got {bias!r}")
    return bias


def epsilon_scale(z, b, *, eps=0.0, bias="absorb"):
    """The factor ``t / (t + eps sgn t)`` that the epsilon rule applies to every ``z_i``
    (``t = sum z``, plus ``b`` unless the bias is ignored); exactly 1 when ``eps = 0``."""
    t = np.asarray(z, dtype=float).sum(axis=-1) + (0.0 if bias == "ignore" else np.asarray(b, dtype=float))
    if eps == 0:
        return np.ones_like(t)
    return safe_divide(t, stabilize(t, eps))


def sv_relevance(z, b, *, eps=0.0, bias="absorb"):
    """Epsilon rule on the support-vector layer.

    Parameters
    ----------
    z : array (..., n_sv)
        ``a_i k(s_i, x)`` per support vector.
    b : float or array (...)
        The bias (intercept).

    Returns
    -------
    R_sv : array (..., n_sv)
        ``z_i / (t + eps sgn t) * t``, where ``t = sum z`` ("ignore") or ``sum z + b``.
    bias_share : array (...)
        What the bias keeps: ``b`` for "ignore" (it is not explained), ``b t / (t + eps sgn t)``
        for "absorb", 0 for "uniform" (the caller spreads it over the dimensions).
    uniform : array (...)
        The amount to add to every dimension, divided by D by the caller ("uniform" only, else 0).
    """
    check_bias(bias)
    z = np.asarray(z, dtype=float)
    b = np.asarray(b, dtype=float)
    scale = epsilon_scale(z, b, eps=eps, bias=bias)
    t = z.sum(axis=-1)
    R = z * scale[..., None]
    if bias == "ignore":
        return R, b + 0 * t, 0 * t
    share = b * scale
    if bias == "absorb":
        return R, share, 0 * t
    return R, 0 * t, share


# -- kernel rules: k(S, x) and the fractions phi (n_sv, D) --------------------------------------
class LinearKernel:
    """``k(s, x) = s . x``; ``c_id = s_id x_d`` (exact)."""

    exact = True

    def kernel(self, S, x):
        return S @ x

    def contributions(self, S, x):
        return S * x

    def __repr__(self):
        return "LinearKernel()"


class PolynomialKernel:
    """``k(s, x) = (gamma s.x + coef0) ** degree``.

    ``c_id = k_i gamma s_id x_d / (u_i + coef0)`` with ``u_i = gamma s_i.x``: the homogeneous kernel
    (coef0 = 0) splits exactly; otherwise ``coef0 / (u_i + coef0)`` of each ``R_i`` is absorbed
    (LRP-0, as a bias would be).
    """

    def __init__(self, gamma=1.0, coef0=0.0, degree=2):
        self.gamma, self.coef0, self.degree = float(gamma), float(coef0), degree

    @property
    def exact(self):
        return self.coef0 == 0

    def kernel(self, S, x):
        return (self.gamma * (S @ x) + self.coef0) ** self.degree

    def contributions(self, S, x):
        u = self.gamma * (S @ x)
        share = safe_divide(self.gamma * S * x, (u + self.coef0)[:, None])
        return self.kernel(S, x)[:, None] * share

    def __repr__(self):
        return f"PolynomialKernel(gamma={self.gamma:g}, coef0={self.coef0:g}, degree={self.degree})"


def dense(a):
    """A float array from a dense or scipy-sparse one (text features and models fitted on them
    are sparse)."""
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=float)


def _additive_gram(term, A, B, max_elements=2**23):
    """``K[i, j] = sum_d term(A[i, d], B[j, d])``, a block of rows of A at a time (bounded memory)."""
    A, B = dense(A), dense(B)
    K = np.empty((len(A), len(B)))
    step = max(1, max_elements // max(1, B.size))
    for start in range(0, len(A), step):
        K[start:start + step] = term(A[start:start + step, None, :], B[None, :, :]).sum(axis=-1)
    return K


def histogram_intersection(A, B):
    """Histogram intersection kernel ``sum_d min(a_d, b_d)`` between the rows of A and B (a valid
    callable kernel for ``SVC(kernel=histogram_intersection)``)."""
    return _additive_gram(np.minimum, A, B)


def additive_chi2(A, B):
    """Additive chi2 kernel ``sum_d 2 a_d b_d / (a_d + b_d)`` (0 where ``a_d + b_d = 0``), for
    non-negative features. (sklearn's ``additive_chi2_kernel`` is a different, negative form.)"""
    return _additive_gram(_chi2_terms, A, B)


def _chi2_terms(a, b):
    return safe_divide(2 * a * b, a + b)


class AdditiveKernel:
    """``k(s, x) = sum_d k_d(s_d, x_d)``: ``"intersection"`` (min) or ``"chi2"`` (2xy/(x+y)).

    ``c_id = k_d(s_id, x_d)``: exact, no epsilon needed, and ``x_d = 0`` gives ``R_d = 0`` (an
    absent word or visual word gets nothing).
    """

    exact = True
    TERMS = {"intersection": np.minimum, "chi2": _chi2_terms}
    FUNCTIONS = {"intersection": histogram_intersection, "chi2": additive_chi2}

    def __init__(self, kind="intersection"):
        if kind not in self.TERMS:
            raise ValueError(f"kind must be one of {sorted(self.TERMS)}, got {kind!r}")
        self.kind = kind

    def contributions(self, S, x):
        return self.TERMS[self.kind](S, x[None, :])

    def kernel(self, S, x):
        return self.contributions(S, x).sum(axis=1)

    def gram(self, A, B):
        return self.FUNCTIONS[self.kind](A, B)

    def __repr__(self):
        return f"AdditiveKernel({self.kind!r})"


def kernel_rule_for(kernel):
    """The additive rule for one of our kernel functions, else None."""
    for kind, fn in AdditiveKernel.FUNCTIONS.items():
        if kernel is fn:
            return AdditiveKernel(kind)
    return None


# -- RBF: the whole function at once ------------------------------------------------------------
class RBFKernel:
    """``f(x) = sum_i a_i exp(-gamma |x - s_i|^2) + b``, explained in one of three ways.

    ``method="taylor"``: first-order Taylor expansion at a root point ``x~`` of ``f`` (of ``f - b``
    with ``bias="ignore"``, which then keeps ``b`` as its share; ``f - b`` can keep one sign
    everywhere, and then has no root): ``R_d = (x_d - x~_d) df/dx_d(x~)``; not conservative.
    ``method="path"``: the gradient integrated along the segment from ``x~`` to ``x``
    (Gauss-Legendre, ``n_steps`` nodes): conservative up to quadrature error.
    ``method="neuralized"``: the log-odds ``log sum_+ a_i k_i - log sum_- |a_j| k_j`` as a soft-max
    over positive SVs of soft-mins over negative SVs of linear units ``h_ij = w_ij.(x - m_ij) +
    log(a_i/|a_j|)``, ``w_ij = 2 gamma (s_i - s_j)``, ``m_ij`` their midpoint; each unit's
    relevance ``w_ij (x - m_ij)`` weighted by its soft-max/soft-min responsibilities. It explains
    the sign of ``f - b``, not its value.
    """

    METHODS = ("taylor", "path", "neuralized")

    def __init__(self, gamma, method="path", n_steps=64):
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {list(self.METHODS)}, got {method!r}")
        self.gamma, self.method, self.n_steps = float(gamma), method, int(n_steps)

    def kernel(self, S, X):
        d2 = ((np.atleast_2d(X)[:, None, :] - S[None]) ** 2).sum(axis=-1)
        return np.exp(-self.gamma * d2)

    def value(self, S, a, X):
        return self.kernel(S, X) @ a

    def gradient(self, S, a, X):
        X = np.atleast_2d(X)
        k = self.kernel(S, X) * a  # (n, n_sv)
        return -2 * self.gamma * (k[:, :, None] * (X[:, None, :] - S[None])).sum(axis=1)

    def find_root(self, S, a, x, offset, candidates, tol=1e-13, max_iter=200):
        """A point ``x~`` with ``g(x~) = f(x~) - offset = 0`` on the segment from ``x`` to the nearest
        candidate of opposite sign, by bisection."""
        g = lambda p: self.value(S, a, p)[0] - offset  # noqa: E731
        gx = g(x)
        if gx == 0:
            return x.copy()
        values = self.value(S, a, candidates) - offset
        opposite = candidates[np.sign(values) == -np.sign(gx)]
        if len(opposite) == 0:
            raise ValueError(
                "no root point: none of the candidate points (the support vectors, or root_candidates=) "
                "has the opposite sign of the function expanded (f, or f - b with bias='ignore'); "
                "pass root= or root_candidates= (e.g. training inputs of the other class)"
            )
        far = opposite[np.argmin(((opposite - x) ** 2).sum(axis=1))]
        lo, hi = 0.0, 1.0  # g(x + lo (far - x)) has gx's sign, at hi the opposite
        for _ in range(max_iter):
            mid = (lo + hi) / 2
            gm = g(x + mid * (far - x))
            if gm == 0 or hi - lo < tol:
                lo = hi = mid
                break
            if np.sign(gm) == np.sign(gx):
                lo = mid
            else:
                hi = mid
        return x + (lo + hi) / 2 * (far - x)

    def relevance(self, S, a, x, root):
        """Relevance per dimension from the root point (taylor/path) for one input."""
        if self.method == "taylor":
            return (x - root) * self.gradient(S, a, root)[0]
        nodes, weights = np.polynomial.legendre.leggauss(self.n_steps)
        t = (nodes + 1) / 2
        grads = self.gradient(S, a, root[None] + t[:, None] * (x - root)[None])
        return (x - root) * ((weights / 2) @ grads)

    def neuralized(self, S, a, x):
        """``(log_odds, R (D,), bias_share)`` of the neuralized model for one input."""
        pos, neg = a > 0, a < 0
        if not pos.any() or not neg.any():
            raise ValueError("the neuralized RBF rule needs support vectors of both signs")
        Sp, Sn = S[pos], S[neg]
        W = 2 * self.gamma * (Sp[:, None, :] - Sn[None, :, :])  # (P, N, D)
        M = (Sp[:, None, :] + Sn[None, :, :]) / 2
        log_ratio = np.log(a[pos])[:, None] - np.log(-a[neg])[None, :]
        contrib = W * (x - M)  # (P, N, D)
        h = contrib.sum(axis=-1) + log_ratio
        # soft-min over negatives, soft-max over positives (log-sum-exp, stable)
        q = np.exp(-(h - h.min(axis=1, keepdims=True)))
        q /= q.sum(axis=1, keepdims=True)
        inner = h.min(axis=1) - np.log(np.exp(-(h - h.min(axis=1, keepdims=True))).sum(axis=1))
        p = np.exp(inner - inner.max())
        p /= p.sum()
        log_odds = inner.max() + np.log(np.exp(inner - inner.max()).sum())
        weight = p[:, None] * q  # (P, N)
        R = (weight[:, :, None] * contrib).sum(axis=(0, 1))
        return log_odds, R, float((weight * log_ratio).sum())

    def __repr__(self):
        return f"RBFKernel(gamma={self.gamma:g}, method={self.method!r})"


def softmin_relevance(U, alpha, gamma, x):
    """One-class soft-min (neuralized one-class SVM / KDE).

    ``o(x) = -log sum_j alpha_j exp(-gamma |x - u_j|^2)``; ``R_j = o p_j`` with soft-min
    responsibilities ``p_j`` (proportional to ``alpha_j exp(-gamma |x - u_j|^2)``); ``R_d = sum_j R_j
    (x_d - u_jd)^2 / |x - u_j|^2``, which sums to ``o`` exactly.

    Returns ``(o, R_dims (D,), R_units (n_units,))``.
    """
    U, alpha, x = np.asarray(U, float), np.asarray(alpha, float), np.asarray(x, float)
    if (alpha <= 0).any():
        raise ValueError("the soft-min rule needs positive weights alpha")
    sq = (x[None, :] - U) ** 2
    d2 = sq.sum(axis=1)
    logits = np.log(alpha) - gamma * d2
    top = logits.max()
    o = -(top + np.log(np.exp(logits - top).sum()))
    p = np.exp(logits - top)
    p /= p.sum()
    R_units = o * p
    share = safe_divide(sq, d2[:, None])
    share[d2 == 0] = 1.0 / len(x)  # x on a unit: its (zero) distance has no direction
    return o, R_units @ share, R_units
