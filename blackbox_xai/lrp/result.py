"""The result of an LRP explanation: relevance with its conservation made visible."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from blackbox_xai.result_files import ResultFormat, _plain, register, unplain


_SHARED_INFO = ("feature_names",)  # info entries about the model; every other entry has one per input


@register
@dataclass
class Relevance(ResultFormat):
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

    def __getitem__(self, i) -> "Relevance":
        """Input ``i``'s relevance, as a :class:`Relevance` of one row (what ``LRP.explain`` of
        that input gives)."""
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"Relevance is indexed by an int (one input), got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"input {i} of a Relevance of {n}")
        one = slice(i % n, i % n + 1)
        info = {k: v if k in _SHARED_INFO else v[one] for k, v in self.info.items()}
        return Relevance(self.relevance[one], None if self.relevance_sv is None else self.relevance_sv[one],
                         self.output[one], self.bias_share[one], self.target[one], self.rule, info)

    def relevance_map(self, index=0) -> np.ndarray:
        """Input ``index``'s relevance over its positions: per pixel for an image pipeline, per
        input dimension otherwise."""
        pixels = self.info.get("pixels")
        return np.asarray(pixels[index] if pixels is not None else self.relevance[index], dtype=float)

    def token_spans(self, index=0):
        """``[(start, end, relevance)]`` of every token of document ``index`` of a text pipeline
        (None for other pipelines)."""
        if "tokens" not in self.info:
            return None
        return [(t["start"], t["end"], t["relevance"]) for t in self.info["tokens"][index]]

    # -- persistence (save/load, to_json/from_json: see blackbox_xai.result_files) -----------------
    def _state(self):
        """Arrays in ``info`` (pixels, descriptors, roots) stay arrays, the rest (tokens,
        documents, names) is JSON."""
        arrays = {"relevance": self.relevance, "output": self.output, "bias_share": self.bias_share}
        ragged, info = {}, {}
        for name, value in [("relevance_sv", self.relevance_sv)] + [(f"info.{k}", v) for k, v in self.info.items()]:
            if isinstance(value, np.ndarray):
                arrays[name] = value
            elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                ragged[name] = len(value)
                arrays.update({f"{name}.{i}": v for i, v in enumerate(value)})
            elif name.startswith("info."):
                info[name[5:]] = value
        return {"rule": self.rule, "target": [_plain(t) for t in self.target], "info": info, "ragged": ragged}, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        stored = dict(arrays)
        for name, n in meta["ragged"].items():
            stored[name] = [stored.pop(f"{name}.{i}") for i in range(n)]
        info = dict(meta["info"])
        info.update({name[5:]: value for name, value in stored.items() if name.startswith("info.")})
        return cls(stored["relevance"], stored.get("relevance_sv"), stored["output"], stored["bias_share"],
                   [unplain(t) for t in meta["target"]], meta["rule"], info)

    def __repr__(self):
        worst = float(np.abs(self.residual).max()) if len(self) else 0.0
        return (f"Relevance(n={len(self)}, dims={self.relevance.shape[1:]}, rule={self.rule!r}, "
                f"max |residual|={worst:.3g})")
