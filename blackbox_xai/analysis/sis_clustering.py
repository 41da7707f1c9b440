"""Clustering SIS across many inputs to compare models' rationales (Carter et al. 2019, sec. 4).

Each SIS is a set of coordinates (pixels) or tokens. Distances:

* energy distance between two point sets A, B with Euclidean ground distance,
  ``D(A, B) = sqrt(2 E|a-b| - E|a-a'| - E|b-b'|)`` (V-statistics: means over all pairs);
* Jaccard distance between token sets.

Both are computed for all pairs at once through an incidence matrix over the distinct coordinates
(tokens): ``E|a-b|`` for every pair is ``W G W^T`` with ``W`` the row-normalised incidence and ``G``
the ground-distance matrix of the distinct coordinates, so the cost grows with the number of SIS
and distinct coordinates, not with the product of set sizes. DBSCAN then clusters the precomputed
matrix; noise points form the "Misc" group.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.spatial.distance import cdist

from blackbox_xai.adapters import as_model
from blackbox_xai.engine import Engine
from blackbox_xai.features import FeatureSpace
from blackbox_xai.maskers import Masker


def _set_sizes(sets):
    """Sizes of N non-empty sets (errors name an empty one)."""
    sizes = np.array([len(s) for s in sets])
    if len(sets) == 0:
        raise ValueError("need at least one set")
    if np.any(sizes == 0):
        raise ValueError(f"set {int(np.argmin(sizes))} is empty; distances need non-empty SIS")
    return sizes


def _incidence(sizes, cols, n_cols, *, normalise=False):
    """Sparse (N, n_cols) incidence of N sets whose elements (column ids ``cols``, set by set)
    come in runs of ``sizes``; rows sum to 1 when ``normalise``."""
    row = np.repeat(np.arange(len(sizes)), sizes)
    data = 1.0 / sizes[row] if normalise else np.ones(len(row))
    return sparse.csr_matrix((data, (row, cols)), shape=(len(sizes), n_cols))


def energy_distances(point_sets, *, scale=1.0, block_bytes=64 * 2**20) -> np.ndarray:
    """Pairwise energy distances between point sets.

    Parameters
    ----------
    point_sets : sequence of arrays (k_i, d)
        Coordinates of each set (e.g. ``sis.indices``); duplicates within a set are ignored.
    scale : float
        Coordinates are divided by it (e.g. the image side, to measure in image widths).
    block_bytes : int
        Memory bound for the blocks of the computation.

    Returns
    -------
    ndarray (N, N)
        Symmetric, zero diagonal.
    """
    sets = [np.asarray(p, dtype=float) for p in point_sets]
    _set_sizes(sets)
    sets = [np.unique(p.reshape(len(p), -1), axis=0) for p in sets]
    sizes = np.array([len(p) for p in sets])
    dims = {s.shape[1] for s in sets}
    if len(dims) != 1:
        raise ValueError(f"point sets have different dimensions {sorted(dims)}")
    allpts = np.concatenate(sets) / float(scale)
    coords, col = np.unique(allpts, axis=0, return_inverse=True)
    col = col.ravel()
    W = _incidence(sizes, col, len(coords), normalise=True)
    n_u = len(coords)
    step = max(1, int(block_bytes // (8 * max(n_u, len(sets)))))
    cross = np.zeros((len(sets), len(sets)))
    for a in range(0, n_u, step):
        G = cdist(coords, coords[a:a + step])                 # (U, b) ground distances
        WG = np.asarray(W @ G)                                 # (N, b): mean distance to each coord
        cross += np.asarray((W[:, a:a + step] @ WG.T).T)       # (N, N) partial E|a-b|
    within = np.diag(cross).copy()
    sq = 2 * cross - within[:, None] - within[None, :]
    np.fill_diagonal(sq, 0.0)
    d = np.sqrt(np.clip(sq, 0.0, None))
    return (d + d.T) / 2  # exact symmetry despite floating-point order


def jaccard_distances(token_sets) -> np.ndarray:
    """Pairwise Jaccard distances ``1 - |A & B| / |A | B|`` between sets of hashable tokens."""
    sets = [set(s.tolist() if isinstance(s, np.ndarray) else s) for s in token_sets]
    sizes = _set_sizes(sets)
    vocab = {}
    cols = [vocab.setdefault(t, len(vocab)) for s in sets for t in s]
    A = _incidence(sizes, cols, len(vocab))
    inter = (A @ A.T).toarray()
    union = sizes[:, None] + sizes[None, :] - inter
    return 1.0 - inter / union


def cluster_sis(distances, *, eps, min_samples=5) -> np.ndarray:
    """DBSCAN on a precomputed distance matrix; label -1 is noise ("Misc")."""
    from sklearn.cluster import DBSCAN

    distances = np.asarray(distances)
    if distances.ndim != 2 or distances.shape[0] != distances.shape[1]:
        raise ValueError(f"distances must be a square matrix, got shape {distances.shape}")
    return DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(distances)


@dataclass
class SISComparison:
    """Joint clustering of several models' SIS.

    Attributes
    ----------
    models : list of str
        Model names, in the order given.
    sis_model : ndarray (N,)
        Index into ``models`` of each SIS.
    labels : ndarray (N,)
        Cluster of each SIS (-1: Misc).
    distances : ndarray (N, N)
    rows : list of dict
        One per cluster (Misc last): ``cluster``, ``n_sis``, ``count_<model>``, ``share_<model>``
        (percent of the cluster's SIS that come from that model).
    """

    models: list
    sis_model: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    rows: list

    def to_markdown(self) -> str:
        head = ["cluster", "n_sis"] + [f"% {m}" for m in self.models]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [str(r["cluster"]), str(r["n_sis"])] + [f"{r['share_' + m]:.1f}" for m in self.models]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_csv(self, path) -> None:
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]) if self.rows else ["cluster"])
            writer.writeheader()
            writer.writerows(self.rows)


def _table(models, sis_model, labels):
    rows = []
    clusters = sorted(set(labels.tolist()) - {-1}) + ([-1] if (labels == -1).any() else [])
    for c in clusters:
        members = sis_model[labels == c]
        row = {"cluster": "Misc" if c == -1 else f"C{c + 1}", "n_sis": int(len(members))}
        for i, m in enumerate(models):
            count = int(np.sum(members == i))
            row[f"count_{m}"] = count
            row[f"share_{m}"] = 100.0 * count / len(members)
        rows.append(row)
    return rows


def compare_sis(sis_by_model, *, eps, min_samples=5, metric="energy", scale=1.0) -> SISComparison:
    """Cluster the SIS of several models jointly and tabulate each cluster's origin.

    Parameters
    ----------
    sis_by_model : dict of str -> sequence of SISCollection
        E.g. ``{"cnn": cnn_collections, "mlp": mlp_collections}``; every SIS of every collection
        takes part.
    eps, min_samples : DBSCAN parameters (distance units: see ``metric``).
    metric : {"energy", "jaccard"}
        Energy distance between coordinate sets (images), or Jaccard between the feature sets.
    scale : float
        Coordinate scale for the energy distance.
    """
    if metric not in ("energy", "jaccard"):
        raise ValueError(f"metric must be 'energy' or 'jaccard', got {metric!r}")
    models = list(sis_by_model)
    sets, owner = [], []
    for i, name in enumerate(models):
        for collection in sis_by_model[name]:
            for s in collection:
                sets.append(s.indices)
                owner.append(i)
    if not sets:
        raise ValueError("no SIS to compare: every collection is empty")
    if metric == "energy":
        dist = energy_distances(sets, scale=scale)
    else:
        dist = jaccard_distances([map(tuple, np.reshape(s, (len(s), -1))) for s in sets])
    owner = np.asarray(owner)
    labels = cluster_sis(dist, eps=eps, min_samples=min_samples)
    return SISComparison(models, owner, labels, dist, _table(models, owner, labels))


@dataclass
class CrossCheck:
    """SIS of one model scored by another: ``scores`` per SIS, ``share`` reaching the threshold."""

    scores: np.ndarray
    thresholds: np.ndarray

    @property
    def reached(self) -> np.ndarray:
        return self.scores >= self.thresholds

    @property
    def share(self) -> float:
        return float(self.reached.mean()) if len(self.scores) else float("nan")


def cross_check(collections, model, *, threshold=None, batch_size=None) -> CrossCheck:
    """Score every SIS of ``collections`` (found on model A) with ``model`` (model B).

    Each SIS is evaluated alone (other features masked as when it was found), on the collection's
    target; it "reaches" when the score is ``>= threshold`` (default: each collection's threshold).
    """
    inputs, targets, thresholds = [], [], []
    for c in collections:
        for x_s in c.masked_inputs():
            inputs.append(x_s)
            targets.append(c.target)
            thresholds.append(c.threshold if threshold is None else float(threshold))
    if not inputs:
        return CrossCheck(np.zeros(0), np.zeros(0))
    X = np.stack(inputs)
    space = FeatureSpace(X.shape[1:])
    engine = Engine(as_model(model), batch_size=batch_size)
    masker = engine.prepare(Masker(X, np.zeros(X.shape[1:], X.dtype), space))
    out = engine.evaluate(masker, np.arange(len(X)), np.ones((len(X), space.n_features), bool))
    targets = np.asarray(targets)
    if targets.max() >= out.shape[1]:
        raise ValueError(f"target {targets.max()} is out of range for a model with {out.shape[1]} output(s)")
    return CrossCheck(out[np.arange(len(X)), targets], np.asarray(thresholds))
