"""Result objects: what explainers return, and how they go to disk and back.

Each saves to one ``.npz`` file and writes to one JSON form (:mod:`blackbox_xai.result_files`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from blackbox_xai.result_files import ResultFormat, register



@dataclass(frozen=True, eq=False)
class SIS:
    """One sufficient input subset.

    Attributes
    ----------
    indices : ndarray of int, shape (k, mask_ndim)
        Coordinates of the SIS features in mask space, last-removed first; flat ``(k,)`` where
        one number names a feature (1-D inputs, and the group ids of an integer group map).
    features : ndarray of int, shape (k,)
        The same features as flat feature numbers ``0..M-1``.
    mask : ndarray of bool
        True on the SIS, laid out in mask space (input shape for a group map); broadcastable to x.
    order : ndarray of int, shape (r, mask_ndim) or (r,)
        Every feature in the order the backward selection removed it, laid out as ``indices``.
    values : ndarray of float, shape (r,)
        f after each removal (in fast mode, features removed together in one block share the value
        measured after the whole block).
    score : float
        f on the SIS alone (all other features masked), re-evaluated.
    sufficient : bool
        ``score >= threshold``.
    """

    indices: np.ndarray
    features: np.ndarray
    mask: np.ndarray
    order: np.ndarray
    values: np.ndarray
    score: float
    sufficient: bool

    def relevance_map(self, index=0) -> np.ndarray:
        """The removal rank of each position, laid out like ``mask``: the feature removed last
        (the most needed) scores highest, ``len(order)``. For region perturbation and plots."""
        _only_input(index)
        order = np.reshape(self.order, (len(self.order), -1))
        if order.shape[1] != self.mask.ndim:
            raise ValueError("this SIS names its features by group id: its relevance map needs the "
                             "group map (use SISCollection.group_ids and the explainer's groups)")
        values = np.zeros(self.mask.shape)
        values[tuple(order.T)] = np.arange(1, len(order) + 1)
        return values

    @property
    def size(self) -> int:
        return int(len(self.features))

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"SIS(size={self.size}, score={self.score:.4g}, sufficient={self.sufficient})"


def _only_input(index):
    if index != 0:
        raise IndexError(f"a result of one input has only input 0, got index {index}")


@register
class SISCollection(ResultFormat, Sequence):
    """The disjoint SIS found for one input, in the order they were found.

    Attributes
    ----------
    x : ndarray
        The explained input.
    masked_input : ndarray
        The fully masked input (what masked features take), same shape as ``x``.
    target : int
        The output column explained.
    threshold : float
    n_evaluations : int
        Model evaluations spent on this input.
    mode : str
        "exact" or "fast".
    group_ids : ndarray or None
        For an integer group map, the group id of each feature.
    reason : str or None
        Why no SIS was found (the input itself is below the threshold, or the fully masked input
        already reaches it); None when the collection has SIS. An empty collection is falsy.
    feature_names : list of str or None
        Names of a row's features (a DataFrame's columns, or the model's ``feature_names_in_``):
        :meth:`names` gives each SIS by name.
    """

    def __init__(self, items, *, x, masked_input, target, threshold, n_evaluations, mode="exact",
                 group_ids=None, reason=None, feature_names=None):
        self._items = list(items)
        self.x = x
        self.masked_input = masked_input
        self.target = int(target)
        self.threshold = float(threshold)
        self.n_evaluations = int(n_evaluations)
        self.mode = mode
        self.group_ids = group_ids
        self.reason = reason
        self.feature_names = None if feature_names is None else list(feature_names)

    def names(self) -> list:
        """Each SIS as the names of its features, in the order backward selection kept them (the
        most important last removed, first): ``[["proline", "hue"], ...]``. Needs
        ``feature_names``."""
        if self.feature_names is None:
            raise ValueError("this collection's features have no names (explain a DataFrame row, or a model "
                             "fitted on one)")
        return [[self.feature_names[int(j)] for j in np.ravel(s.features)] for s in self._items]

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        sizes = [s.size for s in self._items]
        why = f", reason={self.reason!r}" if self.reason else ""
        return (
            f"SISCollection({len(self)} SIS, sizes={sizes}, target={self.target}, "
            f"threshold={float(self.threshold)!r}, n_evaluations={self.n_evaluations}{why})"
        )

    def masked_inputs(self) -> np.ndarray:
        """Each SIS alone: ``where(mask, x, masked_input)``, shape ``(len(self), *x.shape)``."""
        if not self._items:
            return np.zeros((0,) + self.x.shape, dtype=self.x.dtype)
        return np.stack([np.where(s.mask, self.x, self.masked_input) for s in self._items])

    def union_mask(self) -> np.ndarray:
        """True where any SIS of the collection has a feature."""
        if not self._items:
            return None
        return np.logical_or.reduce([s.mask for s in self._items])

    # -- persistence (save/load, to_json/from_json: see blackbox_xai.result_files) -----------------
    def _state(self):
        meta = {
            "target": self.target,
            "threshold": self.threshold,
            "n_evaluations": self.n_evaluations,
            "mode": self.mode,
            "n_sis": len(self),
            "scores": [s.score for s in self._items],
            "sufficient": [bool(s.sufficient) for s in self._items],
            "reason": self.reason,
            "feature_names": self.feature_names,
        }
        arrays = {"x": self.x, "masked_input": self.masked_input}
        if self.group_ids is not None:
            arrays["group_ids"] = self.group_ids
        for i, s in enumerate(self._items):
            for field in ("indices", "features", "mask", "order", "values"):
                arrays[f"sis{i}_{field}"] = getattr(s, field)
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        items = [
            SIS(
                **{f: arrays[f"sis{i}_{f}"] for f in ("indices", "features", "mask", "order", "values")},
                score=float(meta["scores"][i]),
                sufficient=bool(meta["sufficient"][i]),
            )
            for i in range(meta["n_sis"])
        ]
        return cls(
            items,
            x=arrays["x"],
            masked_input=arrays["masked_input"],
            target=meta["target"],
            threshold=meta["threshold"],
            n_evaluations=meta["n_evaluations"],
            mode=meta["mode"],
            group_ids=arrays.get("group_ids"),
            reason=meta.get("reason"),
            feature_names=meta.get("feature_names"),
        )


@register
class Attribution(ResultFormat):
    """One attribution per feature for one input: KernelSHAP, LIME and occlusion all return this.

    Attributes
    ----------
    values : ndarray
        One value per feature, laid out like the features: the input's shape (per element, or
        occlusion), the broadcast mask shape (e.g. ``(1, 28, 28)``), or ``(M,)`` for an integer
        group map and for text. With ``target="all"`` a last axis runs over the model's outputs.
    base_value : float or ndarray (K,)
        The reference output: ``E_b f(b)`` (KernelSHAP), the surrogate's intercept (LIME), ``f(x)``
        (occlusion: attributions are drops from it).
    output : float or ndarray (K,)
        The explained output ``f(x)`` (in link space when a link is used).
    std_errors : ndarray or None
        Standard error of each value where the method defines one (KernelSHAP), else None.
    target : int or "all"
    n_evaluations : int
        Model rows evaluated for this input.
    method : str
    x : ndarray or str
        The explained input.
    group_ids : ndarray or None
        For an integer group map, the id of each feature.
    feature_map : ndarray of int or None
        For an integer group map, the feature number of every input position (input shape), so
        :meth:`to_input` can spread the values over the input.
    feature_names : list of str or None
        Names of the features (words for text).
    info : dict
        Method-specific figures, JSON-serialisable (LIME: ``score``, ``intercept``; KernelSHAP:
        ``n_coalitions``, ``exact``; ...).
    """

    def __init__(self, values, *, base_value, output, target, n_evaluations, method, x,
                 std_errors=None, group_ids=None, feature_map=None, feature_names=None, info=None):
        self.values = np.asarray(values, dtype=float)
        self.base_value = base_value
        self.output = output
        self.std_errors = None if std_errors is None else np.asarray(std_errors, dtype=float)
        self.target = target
        self.n_evaluations = int(n_evaluations)
        self.method = method
        self.x = x
        self.group_ids = group_ids
        self.feature_map = feature_map
        self.feature_names = None if feature_names is None else list(feature_names)
        self.info = dict(info or {})

    def __repr__(self) -> str:
        return (f"Attribution(method={self.method!r}, values shape={self.values.shape}, "
                f"target={self.target!r}, n_evaluations={self.n_evaluations})")

    def to_input(self) -> np.ndarray:
        """The values laid over the input's positions (group values repeated over their group,
        broadcast masks expanded), shape ``x.shape`` (+ outputs axis for ``target="all"``)."""
        if isinstance(self.x, str):
            raise ValueError("text attributions have no input array; use feature_names/info['spans']")
        if self.feature_map is not None:
            return self.values[self.feature_map.ravel()].reshape(self.x.shape + self.values.shape[1:])
        return np.broadcast_to(self.values, self.x.shape + self.values.shape[self.x.ndim:]).copy()

    def as_list(self, output=None) -> list:
        """``[(feature, value), ...]`` in order of ``|value|``, largest first (as lime's
        ``as_list``): features by name where they have one, else by number (an index tuple for
        inputs with several axes), or by what LIME's surrogate read for x (``sex = female``,
        ``0.3 <= age < 0.5``, with ``categorical_names`` or ``discretize``). LIME with
        ``num_features`` lists only the features it kept. ``output``: which output, for
        ``target="all"``."""
        values = np.asarray(self.values, dtype=float)
        if self.target == "all":
            if output is None:
                raise ValueError("these values cover every output (target='all'): pass output=<column>")
            values = values[..., output]
        elif output is not None:
            raise ValueError(f"these values are for output {self.target} alone; output= is for target='all'")
        flat = values.ravel()
        if self.feature_names is not None and len(self.feature_names) == flat.size:
            names = list(self.feature_names)
        elif values.ndim == 1:
            names = list(range(flat.size))
        else:
            names = [tuple(int(i) for i in np.unravel_index(j, values.shape)) for j in range(flat.size)]
        conditions = self.info.get("conditions")
        if conditions is not None and len(conditions) == flat.size:
            names = [c.replace("{}", str(n)) for c, n in zip(conditions, names)]
        listed = self.info.get("features_used", range(flat.size))
        order = sorted(listed, key=lambda j: -abs(flat[j]))
        return [(names[j], float(flat[j])) for j in order]

    def relevance_map(self, index=0) -> np.ndarray:
        """:meth:`to_input`: the values over the input's positions (for region perturbation)."""
        _only_input(index)
        return self.to_input()

    def token_spans(self, index=0):
        """``[(start, end, value)]`` of every token of a text attribution (None otherwise): the
        value of the word each token is."""
        _only_input(index)
        if "spans" not in self.info or "feature_of_token" not in self.info:
            return None
        values = np.asarray(self.values, dtype=float)
        return [(int(a), int(b), float(values[f])) for (a, b), f in zip(self.info["spans"], self.info["feature_of_token"])]

    # -- persistence (save/load, to_json/from_json: see blackbox_xai.result_files) -----------------
    def _state(self):
        meta = {
            "target": self.target, "n_evaluations": self.n_evaluations, "method": self.method,
            "feature_names": self.feature_names, "info": self.info,
            "x_text": self.x if isinstance(self.x, str) else None,
        }
        arrays = {"values": self.values, "base_value": np.asarray(self.base_value),
                  "output": np.asarray(self.output)}
        if not isinstance(self.x, str):
            arrays["x"] = np.asarray(self.x)
        for name in ("std_errors", "group_ids", "feature_map"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return meta, arrays

    @classmethod
    def _from_state(cls, meta, arrays):
        def scalar_or_array(a):
            return float(a) if a.ndim == 0 else a

        return cls(
            arrays["values"], base_value=scalar_or_array(arrays["base_value"]),
            output=scalar_or_array(arrays["output"]), target=meta["target"],
            n_evaluations=meta["n_evaluations"], method=meta["method"],
            x=meta["x_text"] if meta["x_text"] is not None else arrays["x"],
            feature_names=meta["feature_names"], info=meta["info"],
            **{name: arrays.get(name) for name in ("std_errors", "group_ids", "feature_map")},
        )

    # -- interop -------------------------------------------------------------------------------
    def to_shap(self):
        """A ``shap.Explanation`` (needs ``pip install shap``; shap is not a dependency)."""
        return _shap().Explanation(values=self.values, base_values=self.base_value, data=self._shap_data(),
                                   feature_names=self.feature_names)

    def _shap_data(self):
        """The input as shap's ``data``: x where it is laid out like the values, else None."""
        if isinstance(self.x, str) or self.values.shape[: np.ndim(self.x)] != np.shape(self.x):
            return None
        return np.asarray(self.x, dtype=float)


class Explanations(list):
    """What ``explain_batch`` returns: a list of results, one per input, that also keeps the
    inputs' ``index`` (a DataFrame's index, else 0..n-1) and turns attributions into one table.

    For attributions (KernelSHAP, LIME, occlusion of the same shape):

    - :attr:`values`: one array ``(n, M)`` (``(n, M, K)`` for ``target="all"``);
    - :meth:`to_frame`: a pandas DataFrame, one row per input and one column per feature (long
      form, one row per input and output, for ``target="all"``);
    - :meth:`to_shap`: one ``shap.Explanation`` for the whole batch, for shap's plots.
    """

    def __init__(self, results=(), index=None):
        super().__init__(results)
        self.index = list(range(len(self))) if index is None else list(index)

    def _attributions(self, what):
        if not self or not all(isinstance(r, Attribution) for r in self):
            raise TypeError(f"{what} needs attributions (KernelSHAP, LIME, occlusion), one per input")
        shapes = {r.values.shape for r in self}
        if len(shapes) != 1:
            raise ValueError(f"{what} needs attributions of one shape, got {sorted(shapes)}")
        return list(self)

    @property
    def feature_names(self):
        """The features' names (of the first result that has them), or None."""
        return next((r.feature_names for r in self if getattr(r, "feature_names", None)), None)

    @property
    def values(self) -> np.ndarray:
        """Every input's values stacked: ``(n, M)``, or ``(n, M, K)`` for ``target="all"``."""
        return np.stack([r.values for r in self._attributions("values")])

    def to_frame(self):
        """A pandas DataFrame of the values: one row per input (the inputs' index), one column per
        feature (its name, else its number). For ``target="all"`` a long form: one row per input
        and output, indexed by (input, output)."""
        import pandas as pd

        values = self.values
        several = self[0].target == "all"  # a last axis over the outputs
        flat = values.reshape(len(values), -1, values.shape[-1]) if several else values.reshape(len(values), -1)
        names = self.feature_names or [str(j) for j in range(flat.shape[1])]
        if flat.ndim == 2:
            return pd.DataFrame(flat, index=self.index, columns=names)
        n, m, k = flat.shape
        index = pd.MultiIndex.from_product([self.index, range(k)], names=["input", "output"])
        return pd.DataFrame(flat.transpose(0, 2, 1).reshape(n * k, m), index=index, columns=names)

    def to_shap(self):
        """One ``shap.Explanation`` for the batch (``values`` ``(n, M)`` or ``(n, M, K)``,
        ``base_values``, ``data``, ``feature_names``): ``shap.plots.bar``, ``beeswarm`` and the
        others take it. Needs ``pip install shap``."""
        results = self._attributions("to_shap")
        data = [r._shap_data() for r in results]
        return _shap().Explanation(
            values=self.values, base_values=np.stack([np.asarray(r.base_value, dtype=float) for r in results]),
            data=None if any(d is None for d in data) else np.stack(data), feature_names=self.feature_names)


def _shap():
    """The shap module (not a dependency of blackbox-xai)."""
    try:
        import shap
    except ImportError as exc:
        raise ImportError("to_shap() needs shap: pip install shap") from exc
    return shap
