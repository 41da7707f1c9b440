"""Bag-of-words and Fisher-vector pipelines over local descriptors, and their relevance rules.

pixels -> local descriptors l (:class:`DensePatches`) -> coding m(l) -> sum pooling
``Phi = sum_l m(l)`` -> normalisation -> SVM. Encoders are scikit-learn transformers over a list of
descriptor sets (one ``(n_l, d)`` array per image) and expose the per-descriptor codes through
``local_codes``, which the LRP path needs:

* normalisation (power, L1/L2) passes relevance through unchanged: ``R(Phi_d) = R_d``;
* pooling (epsilon rule over the descriptors): ``R_l = sum_d m_d(l) / (Phi_d + eps sgn Phi_d) R_d``
  (:func:`pooling_relevance`);
* pixels: each descriptor's relevance spread evenly over its patch, overlaps adding up
  (:func:`spread_to_pixels`).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from blackbox_xai.lrp.rules import safe_divide, stabilize

NORMS = (None, "l1", "l2")


def pooling_relevance(M, R_pooled, eps=0.0):
    """``R_l = sum_d M[l, d] / (Phi_d + eps sgn Phi_d) R_d`` with ``Phi = M.sum(axis=0)``."""
    M = np.asarray(M, dtype=float)
    Phi = M.sum(axis=0)
    return M @ safe_divide(np.asarray(R_pooled, dtype=float), stabilize(Phi, eps))


def spread_to_pixels(R_local, boxes, shape):
    """Pixel relevance: each descriptor's relevance spread evenly over its box ``(r0, c0, r1, c1)``."""
    out = np.zeros(shape)
    for r, (r0, c0, r1, c1) in zip(R_local, boxes):
        out[r0:r1, c0:c1] += r / ((r1 - r0) * (c1 - c0))
    return out


def _normalize(Phi, power, norm):
    x = np.sign(Phi) * np.abs(Phi) ** power if power != 1 else Phi.copy()
    if norm is not None:
        scale = np.abs(x).sum(axis=-1, keepdims=True) if norm == "l1" else np.linalg.norm(x, axis=-1, keepdims=True)
        x = safe_divide(x, scale)
    return x


class DensePatches(BaseEstimator, TransformerMixin):
    """Dense square patches of grey images ``(N, H, W)`` as local descriptors.

    Parameters
    ----------
    size, step : int
        Patch side and stride in pixels.
    kind : {"raw", "gradient"}
        Raw pixel values, or a histogram of gradient orientations (``n_bins``, weighted by
        magnitude) per patch.
    positions : bool
        Append the patch centre (row, column), scaled to [0, 1), as the last two columns (for an
        encoder's ``spatial_pyramid``).
    """

    def __init__(self, size=8, step=4, kind="raw", n_bins=8, positions=False):
        self.size, self.step, self.kind, self.n_bins, self.positions = size, step, kind, n_bins, positions

    def fit(self, X, y=None):
        return self

    def boxes(self, shape):
        H, W = shape
        if self.size > min(H, W):
            raise ValueError(f"patch size {self.size} is larger than the image ({H}x{W})")
        return [(r, c, r + self.size, c + self.size) for r in range(0, H - self.size + 1, self.step)
                for c in range(0, W - self.size + 1, self.step)]

    def transform(self, X):
        if self.kind not in ("raw", "gradient"):
            raise ValueError(f"kind must be 'raw' or 'gradient', got {self.kind!r}")
        X = np.asarray(X, dtype=float)
        if X.ndim != 3:
            raise ValueError(f"DensePatches takes grey images (N, H, W), got shape {X.shape}")
        boxes = self.boxes(X.shape[1:])
        out = []
        for image in X:
            if self.kind == "raw":
                desc = np.stack([image[r0:r1, c0:c1].ravel() for r0, c0, r1, c1 in boxes])
            else:
                gy, gx = np.gradient(image)
                angle = (np.arctan2(gy, gx) % (2 * np.pi)) / (2 * np.pi) * self.n_bins
                bins = np.minimum(angle.astype(int), self.n_bins - 1)
                mag = np.hypot(gx, gy)
                desc = np.stack([np.bincount(bins[r0:r1, c0:c1].ravel(), mag[r0:r1, c0:c1].ravel(),
                                             minlength=self.n_bins) for r0, c0, r1, c1 in boxes])
            if self.positions:
                centres = np.array([((r0 + r1) / 2 / X.shape[1], (c0 + c1) / 2 / X.shape[2])
                                    for r0, c0, r1, c1 in boxes])
                desc = np.hstack([desc, centres])
            out.append(desc)
        return out


class _DescriptorEncoder(BaseEstimator, TransformerMixin):
    """Shared by the encoders: pooling, normalisation, spatial pyramid, and ``local_codes``."""

    def _features(self, D):
        D = np.asarray(D, dtype=float)
        return D[:, :-2] if self.spatial_pyramid else D

    def _cells(self, D):
        """(n_l, n_cells) membership of each descriptor in each pyramid cell (all ones: no pyramid)."""
        D = np.asarray(D, dtype=float)
        if not self.spatial_pyramid:
            return np.ones((len(D), 1))
        rows, cols = D[:, -2], D[:, -1]
        cells = []
        for gr, gc in self.spatial_pyramid:
            r = np.minimum((rows * gr).astype(int), gr - 1)
            c = np.minimum((cols * gc).astype(int), gc - 1)
            cells.append(np.eye(gr * gc)[r * gc + c])
        return np.hstack(cells)

    def local_codes(self, D):
        """``M`` (n_l, dim): each descriptor's code, so that the pooled vector is ``M.sum(axis=0)``
        (before normalisation)."""
        codes = self._codes(self._features(D))
        cells = self._cells(D)
        return (cells[:, :, None] * codes[:, None, :]).reshape(len(codes), -1)

    def pooled(self, descriptor_sets):
        return np.stack([self.local_codes(D).sum(axis=0) for D in descriptor_sets])

    def normalize(self, Phi):
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {list(NORMS)}, got {self.norm!r}")
        return _normalize(np.asarray(Phi, dtype=float), self.power, self.norm)

    def transform(self, descriptor_sets):
        return self.normalize(self.pooled(descriptor_sets))


class BagOfWordsEncoder(_DescriptorEncoder):
    """Bag of visual words on a k-means codebook.

    ``assignment="hard"``: each descriptor counts for its nearest word; ``"soft"``: a soft-max over
    ``-beta * squared distance``. Then sum pooling, optional power, and ``norm`` ("l1" default).
    """

    def __init__(self, n_words=32, assignment="hard", beta=1.0, power=1.0, norm="l1", spatial_pyramid=None,
                 random_state=None):
        self.n_words, self.assignment, self.beta, self.power, self.norm = n_words, assignment, beta, power, norm
        self.spatial_pyramid, self.random_state = spatial_pyramid, random_state

    def fit(self, descriptor_sets, y=None):
        from sklearn.cluster import KMeans

        data = np.vstack([self._features(D) for D in descriptor_sets])
        self.codebook_ = KMeans(self.n_words, n_init=3, random_state=self.random_state).fit(data).cluster_centers_
        return self

    def _codes(self, F):
        d2 = ((F[:, None, :] - self.codebook_[None]) ** 2).sum(axis=-1)
        if self.assignment == "hard":
            return np.eye(len(self.codebook_))[d2.argmin(axis=1)]
        if self.assignment != "soft":
            raise ValueError(f"assignment must be 'hard' or 'soft', got {self.assignment!r}")
        logits = -self.beta * d2
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)


class FisherVectorEncoder(_DescriptorEncoder):
    """Fisher vectors of a diagonal Gaussian mixture (sklearn's GaussianMixture).

    Per descriptor ``l`` (N per image, posteriors ``g_l(k)``)::

        phi_mu_kd(l)    = g_l(k) (l_d - mu_kd) / sigma_kd / (N sqrt(pi_k))
        phi_sigma_kd(l) = g_l(k) ((l_d - mu_kd)^2 / sigma_kd^2 - 1) / (N sqrt(2 pi_k))

    pooled by summation, then power normalisation ``sgn|.|^power`` (0.5 default) and ``norm``
    ("l2" default). ``spatial_pyramid=[(1, 1), (2, 2)]`` concatenates the vectors of each cell
    (descriptors must end with their (row, col) position in [0, 1), see ``DensePatches``).
    """

    def __init__(self, n_components=8, power=0.5, norm="l2", spatial_pyramid=None, random_state=None):
        self.n_components, self.power, self.norm = n_components, power, norm
        self.spatial_pyramid, self.random_state = spatial_pyramid, random_state

    def fit(self, descriptor_sets, y=None):
        from sklearn.mixture import GaussianMixture

        data = np.vstack([self._features(D) for D in descriptor_sets])
        gmm = GaussianMixture(self.n_components, covariance_type="diag", reg_covar=1e-4,
                              random_state=self.random_state).fit(data)
        return self.set_gmm(gmm.weights_, gmm.means_, np.sqrt(gmm.covariances_))

    def set_gmm(self, weights, means, sigmas):
        """Use a given mixture (weights (K,), means and standard deviations (K, d))."""
        self.weights_ = np.asarray(weights, dtype=float)
        self.means_ = np.atleast_2d(np.asarray(means, dtype=float))
        self.sigmas_ = np.atleast_2d(np.asarray(sigmas, dtype=float))
        return self

    def posteriors(self, F):
        z = (F[:, None, :] - self.means_[None]) / self.sigmas_[None]
        log_p = (np.log(self.weights_) - np.log(self.sigmas_).sum(axis=1))[None] - 0.5 * (z ** 2).sum(axis=-1)
        log_p -= log_p.max(axis=1, keepdims=True)
        p = np.exp(log_p)
        return p / p.sum(axis=1, keepdims=True), z

    def _codes(self, F):
        g, z = self.posteriors(F)
        N = len(F)
        mu = g[:, :, None] * z / (N * np.sqrt(self.weights_))[None, :, None]
        sigma = g[:, :, None] * (z ** 2 - 1) / (N * np.sqrt(2 * self.weights_))[None, :, None]
        return np.concatenate([mu.reshape(N, -1), sigma.reshape(N, -1)], axis=1)


def is_descriptor_encoder(step) -> bool:
    return isinstance(step, _DescriptorEncoder)
