"""Result objects: what explainers return, and how they go to disk and back.

Files are a single ``.npz`` holding the arrays and a JSON metadata string (``allow_pickle`` is
never needed to load them).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class SIS:
    """One sufficient input subset.

    Attributes
    ----------
    indices : ndarray of int, shape (k, mask_ndim)
        Coordinates of the SIS features in mask space, last-removed first (group ids, shape
        (k, 1), for an integer group map).
    features : ndarray of int, shape (k,)
        The same features as flat feature numbers ``0..M-1``.
    mask : ndarray of bool
        True on the SIS, laid out in mask space (input shape for a group map); broadcastable to x.
    order : ndarray of int, shape (r, mask_ndim)
        Every feature in the order the backward selection removed it.
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

    @property
    def size(self) -> int:
        return int(len(self.features))

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"SIS(size={self.size}, score={self.score:.4g}, sufficient={self.sufficient})"


class SISCollection(Sequence):
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
    """

    def __init__(self, items, *, x, masked_input, target, threshold, n_evaluations, mode="exact",
                 group_ids=None):
        self._items = list(items)
        self.x = x
        self.masked_input = masked_input
        self.target = int(target)
        self.threshold = float(threshold)
        self.n_evaluations = int(n_evaluations)
        self.mode = mode
        self.group_ids = group_ids

    def __getitem__(self, i):
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        sizes = [s.size for s in self._items]
        return (
            f"SISCollection({len(self)} SIS, sizes={sizes}, target={self.target}, "
            f"threshold={self.threshold:g}, n_evaluations={self.n_evaluations})"
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

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> str:
        """Write to ``path`` (``.npz`` appended if missing), atomically. Returns the path."""
        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        meta = {
            "format": "blackbox_xai.SISCollection",
            "version": FORMAT_VERSION,
            "target": self.target,
            "threshold": self.threshold,
            "n_evaluations": self.n_evaluations,
            "mode": self.mode,
            "n_sis": len(self),
            "scores": [s.score for s in self._items],
            "sufficient": [bool(s.sufficient) for s in self._items],
        }
        arrays = {"x": self.x, "masked_input": self.masked_input, "__meta__": np.array(json.dumps(meta))}
        if self.group_ids is not None:
            arrays["group_ids"] = self.group_ids
        for i, s in enumerate(self._items):
            for field in ("indices", "features", "mask", "order", "values"):
                arrays[f"sis{i}_{field}"] = getattr(s, field)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path) -> "SISCollection":
        """Read a collection written by :meth:`save`."""
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "__meta__" not in data:
                raise ValueError(f"{path} is not a saved SISCollection (no metadata)")
            meta = json.loads(str(data["__meta__"]))
            if meta.get("format") != "blackbox_xai.SISCollection":
                raise ValueError(f"{path} holds {meta.get('format')!r}, not a SISCollection")
            if meta["version"] > FORMAT_VERSION:
                raise ValueError(
                    f"{path} was written by a newer blackbox-xai (format {meta['version']}); upgrade"
                )
            items = [
                SIS(
                    **{f: data[f"sis{i}_{f}"] for f in ("indices", "features", "mask", "order", "values")},
                    score=float(meta["scores"][i]),
                    sufficient=bool(meta["sufficient"][i]),
                )
                for i in range(meta["n_sis"])
            ]
            return cls(
                items,
                x=data["x"],
                masked_input=data["masked_input"],
                target=meta["target"],
                threshold=meta["threshold"],
                n_evaluations=meta["n_evaluations"],
                mode=meta["mode"],
                group_ids=data["group_ids"] if "group_ids" in data else None,
            )
