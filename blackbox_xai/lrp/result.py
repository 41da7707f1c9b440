"""The result of an LRP explanation: relevance with its conservation made visible."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Relevance:
    """Relevance for a batch of inputs (the leading axis of every array is the input).

    Attributes
    ----------
    relevance : array (n, D)
        Per input dimension (vocabulary entry, Fisher-vector dimension, pixel feature, ...).
    relevance_sv : array (n, n_sv) or None
        Per support vector (or per unit of the explained layer); None for linear models.
    output : array (n,)
        The value explained, e.g. the decision function for the target (log-odds for the
        neuralized RBF rule, the soft-min outlier score for one-class models).
    bias_share : array (n,)
        What the bias keeps (not given to any dimension).
    residual : array (n,)
        ``output - bias_share - relevance.sum(axis=1)``: 0 up to rounding for conservative rules,
        visible wherever a rule is not (epsilon > 0, Taylor at a root, coef0 of a polynomial).
    target : list
        The explained class (or pair of classes) of each input.
    rule : str
        How it was computed, e.g. ``"SVC(kernel='poly') | PolynomialKernel(...) | eps=0, bias='absorb'"``.
    info : dict
        Extra per-method results: ``tokens`` (text), ``descriptors`` and ``pixels`` (images),
        ``root`` (RBF root points), ``feature_names``.
    """

    relevance: np.ndarray
    relevance_sv: np.ndarray | None
    output: np.ndarray
    bias_share: np.ndarray
    target: list
    rule: str
    info: dict = field(default_factory=dict)

    @property
    def residual(self) -> np.ndarray:
        return self.output - self.bias_share - self.relevance.reshape(len(self.output), -1).sum(axis=1)

    def __len__(self):
        return len(self.output)

    def __repr__(self):
        worst = float(np.abs(self.residual).max()) if len(self) else 0.0
        return (f"Relevance(n={len(self)}, dims={self.relevance.shape[1:]}, rule={self.rule!r}, "
                f"max |residual|={worst:.3g})")
