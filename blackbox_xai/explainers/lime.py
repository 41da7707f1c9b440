"""LIME: a weighted linear surrogate of the model around one input.

Plans (one per mode), all evaluated by the shared engine:

* tabular - values sampled around ``x``: ``x + sigma * N(0, 1)`` with ``sigma`` the training
  data's standard deviations (interpretable features: the standardised offsets), or, with
  ``discretize``, values drawn from each feature's training distribution (interpretable features:
  "in the same quantile bin as x");
* image - superpixels switched on or off (off: their mean colour, or ``masked_value``);
* text - words switched on or off (off: removed, or replaced by ``mask_token``).

The first sample is ``x`` itself. Estimator: a ridge regression of the outputs on the
interpretable features, weighted by the kernel ``exp(-d^2 / (2 width^2))`` (lime's
``sqrt(exp(-d^2 / width^2))``) of the distance ``d`` to ``x``: Euclidean for tabular data, cosine
for on/off features. ``Attribution.info`` reports ``score`` (weighted R^2), ``intercept``,
``local_prediction`` and ``kernel_width``.
"""
from __future__ import annotations

import re
from collections import namedtuple

import numpy as np

from blackbox_xai._blas import single_blas_thread
from blackbox_xai._validation import (
    EXECUTION_CONSTRAINTS,
    TARGET,
    ArrayLike,
    Callable,
    Instance,
    Interval,
    Options,
    PositiveInts,
    RandomState,
    check_array,
    resolve_target,
    seed_sequence,
    take_target,
)
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET
from blackbox_xai.explainers._base import Explainer
from blackbox_xai.explanation import Attribution
from blackbox_xai.features import BackgroundMean, FeatureSpace, resolve_masked_input
from blackbox_xai.maskers import Masker, OffsetMasker, TextMasker, ValueMasker

MODES = ("tabular", "image", "text")
_Run = namedtuple("_Run", "n alpha seed")  # one call's validated settings


# --- the surrogate -------------------------------------------------------------------------------
class WeightedRidge:
    """Weighted ridge regression with an unpenalised intercept: one design, any responses.

    Minimises ``sum_i w_i (y_i - b - Z_i coef)^2 + alpha |coef|^2``. The design's part (``Z``
    centred and weighted, and for ``alpha > 0`` its Gram matrix) is formed once; :meth:`fit`
    then costs a pass over ``y`` and one product with the design. LIME's tabular
    ``explain_batch`` shares one design across its rows: continuous sampling gives every row the
    same standardised offsets, hence the same ``Z`` and weights.
    """

    def __init__(self, Z, weights, alpha):
        self.Z, self.alpha, self.weights = Z, alpha, weights
        self._p = weights / weights.sum()
        self._sw = np.sqrt(weights)[:, None]
        self._z_mean = self._p @ Z
        self._zw = np.subtract(Z, self._z_mean, dtype=np.float64)
        self._zw *= self._sw  # centred and weighted
        if alpha > 0:
            self._system = self._zw.T @ self._zw + alpha * np.eye(Z.shape[1])

    def on_columns(self, columns) -> "WeightedRidge":
        """The same regression on some columns of ``Z`` only (same weights and penalty)."""
        return WeightedRidge(self.Z[:, columns], self.weights, self.alpha)

    def fit(self, y):
        """``coef`` (M, K), ``intercept`` (K,), ``score`` (K,): the weighted R^2, for ``y`` (n, K)."""
        y_mean = self._p @ y
        yw = (y - y_mean) * self._sw  # centred before squaring: outputs near 1 keep their spread
        total = np.einsum("ik,ik->k", yw, yw)
        if self.alpha > 0:
            zy = self._zw.T @ yw
            coef = np.linalg.solve(self._system, zy)
            # |yw - Zw coef|^2 = |yw|^2 - coef.zy - alpha |coef|^2 at the ridge solution
            rss = total - np.einsum("mk,mk->k", coef, zy) - self.alpha * np.einsum("mk,mk->k", coef, coef)
        else:  # least squares; minimum-norm where the design is rank-deficient
            coef = np.linalg.lstsq(self._zw, yw, rcond=None)[0]
            resid = yw - self._zw @ coef
            rss = np.einsum("ik,ik->k", resid, resid)
        intercept = y_mean - self._z_mean @ coef
        score = 1.0 - np.maximum(rss, 0.0) / np.where(total > 0, total, 1.0)
        return coef, intercept, np.where(total > 0, score, 1.0)


def same_bin(values, x, edges):
    """Whether each value lies in the same bin as ``x``, column by column.

    ``edges`` (B, M) are each column's sorted inner bin edges; a value ``v`` is in bin
    ``#{edges <= v}``. The bin of ``x_j`` is ``[lo_j, hi_j)``: the largest edge ``<= x_j`` (or
    -inf) to the smallest edge ``> x_j`` (or +inf); tied edges make empty bins.
    """
    k = (edges <= x).sum(axis=0)  # the bin of x, per column
    padded = np.concatenate([np.full((1, edges.shape[1]), -np.inf), edges, np.full((1, edges.shape[1]), np.inf)])
    columns = np.arange(edges.shape[1])
    return (values >= padded[k, columns]) & (values < padded[k + 1, columns])


def kernel(distances, width):
    """LIME's exponential kernel ``sqrt(exp(-d^2 / width^2))``."""
    return np.sqrt(np.exp(-(distances**2) / width**2))


def cosine_distance_to_ones(Z):
    """Cosine distance of on/off rows to the all-on row."""
    norms = np.sqrt(Z.sum(axis=1)) * np.sqrt(Z.shape[1])
    return 1.0 - np.divide(Z.sum(axis=1), norms, out=np.zeros(len(Z)), where=norms > 0)


def on_off_samples(rng, n_samples, n_features):
    """Each feature on with probability 1/2; the first row is x (all on)."""
    Z = rng.random((n_samples, n_features)) < 0.5
    Z[0] = True
    return Z


# --- image features ------------------------------------------------------------------------------
def grid_segments(height, width, grid):
    """A grid of ``grid = (rows, cols)`` superpixels over an image of ``height x width``."""
    rows = (np.arange(height) * grid[0]) // height
    cols = (np.arange(width) * grid[1]) // width
    return rows[:, None] * grid[1] + cols[None, :]


def _channel_axis(x, channel_axis):
    if x.ndim == 2:
        return None
    if x.ndim != 3:
        raise ValueError(f"image mode takes x of shape (H, W), (H, W, C) or (C, H, W), got {x.shape}")
    if channel_axis is not None:
        return channel_axis % 3
    if x.shape[-1] in (1, 3, 4):
        return 2
    if x.shape[0] in (1, 3, 4):
        return 0
    raise ValueError(f"cannot tell the channel axis of an image of shape {x.shape}; pass channel_axis")


class LimeExplainer(Explainer):
    """LIME for tabular rows, images and text.

    Parameters
    ----------
    model : callable, sklearn estimator, torch module or Model
        For text, a model taking an array of strings (e.g. a TF-IDF + classifier Pipeline).
    training_data : array (N, M), optional
        Tabular mode (required there): sets the sampling scale (standard deviations) and, with
        ``discretize``, the quantile bins.
    mode : {"tabular", "image", "text"}
    n_samples : int
        Perturbed samples per input, x itself included.
    kernel_width : float, optional
        Default ``0.75 * sqrt(M)`` (tabular), 0.25 (image, text; cosine distance).
    alpha : float
        Ridge penalty of the surrogate (lime's default 1.0; 0 for plain least squares).
    discretize : None, "quartile" or "decile"
        Tabular only; off by default (lime's default quartiles distort linear models).
    categorical_features : list of int, optional
        Tabular columns holding categories (codes): sampled from their training frequencies; the
        surrogate sees 1 where a sample keeps x's category, 0 elsewhere (its coefficient is the
        effect of x's category against the others).
    categorical_names : dict, optional
        ``{column: [name of code 0, name of code 1, ...]}`` for categorical columns (lime's
        ``categorical_names``): ``as_list()`` then reads ``sex = female`` instead of ``sex``.
        With ``discretize``, ``as_list()`` names each feature by the bin of x (``0.3 <= age <
        0.5``), as lime does.
    class_names : list of str, optional
        Names of the model's outputs (lime's ``class_names``): the result's
        ``info["class_name"]`` names the explained output (a list for ``target="all"``).
    segmentation : "grid", "slic" or int array
        Image superpixels: a ``grid`` of cells, scikit-image's SLIC (needs scikit-image), or your
        own integer map over the image's height and width.
    grid : (int, int)
        Cells of the grid segmentation; for "slic", their product is the number of segments.
    channel_axis : int, optional
        Channel axis of 3-D images (default: last axis if it has 1, 3 or 4 entries, else first).
    masked_value : None, float or array
        Image mode: what switched-off superpixels take; None: each superpixel's mean colour.
    mask_token : str
        Text mode: what replaces switched-off words ("" removes them).
    token_pattern : str
        Text mode: a regular expression matching one word (default: a run of word characters, as
        scikit-learn's vectorisers split); each distinct word is one feature, in order of first
        appearance.
    tokenizer : callable, optional
        Text mode: ``tokenizer(doc) -> list of str``, the words in the order they occur in
        ``doc`` (as lime's ``split_expression`` callable); replaces ``token_pattern``.
    target : None, int or "all"
    random_state : None, int, SeedSequence or Generator
        The same seed gives the same results for any batch size and executor, and
        ``explain_batch(X)[i]`` equals ``explain(X[i])``: bit for bit where the model sees the
        same calls, to about 1e-12 relative where a BLAS-backed model sees other ones.
    num_features : int, optional
        Explain with at most this many features, as lime's ``num_features``: the surrogate is fitted
        on all of them, the ``num_features`` with the largest ``|weight|`` (largest over the outputs
        for ``target="all"``) are kept and the surrogate refitted on those alone; the others get 0.
        ``info["features_used"]`` lists the kept ones. Default: every feature.
    feature_names : list of str, optional
        Names of the features of a 1-D input, carried by each result (``Attribution.feature_names``).
        Default: the columns of a DataFrame given as input, background or training data, else the
        fitted scikit-learn model's ``feature_names_in_``.
    batch_size, executor, progress, memory_budget
        Execution settings (see :class:`~blackbox_xai.engine.Engine`).
    """

    _parameter_constraints = {
        "model": "no_validation",  # as_model checks it
        "training_data": [None, ArrayLike()],
        "mode": [Options(*MODES)],
        "n_samples": [Interval(int, 2)],  # x and at least one perturbation
        "kernel_width": [None, Interval(float, 0, closed="neither")],
        "alpha": [Interval(float, 0)],
        "discretize": [None, Options("quartile", "decile")],
        "categorical_features": [None, Instance("a list of column numbers", list, tuple, np.ndarray)],
        "segmentation": [Options("grid", "slic"), ArrayLike()],  # or an int map of superpixels
        "grid": [PositiveInts(length=2)],
        "channel_axis": [None, Interval(int)],
        "masked_value": [None, ArrayLike(), Instance("a BackgroundMean", BackgroundMean)],
        "mask_token": [Instance("a string", str)],
        "token_pattern": [Instance("a regular expression (a string)", str)],
        "tokenizer": [None, Callable()],
        "target": TARGET,
        "feature_names": [None, Instance("a list of names", list, tuple, np.ndarray)],
        "num_features": [None, Interval(int, 1)],
        "class_names": [None, Instance("a list of names", list, tuple)],
        "categorical_names": [None, Instance("a dict {column: [name of each code]}", dict)],
        "random_state": [RandomState()],
        **EXECUTION_CONSTRAINTS,
    }

    def __init__(self, model, training_data=None, *, mode="tabular", n_samples=5000, kernel_width=None,
                 alpha=1.0, discretize=None, categorical_features=None, segmentation="grid", grid=(4, 4),
                 channel_axis=None, masked_value=None, mask_token="", token_pattern=r"\w+", tokenizer=None,
                 target=None, feature_names=None, num_features=None, class_names=None, categorical_names=None,
                 random_state=None,
                 batch_size=None, executor=None, progress=False, memory_budget=DEFAULT_MEMORY_BUDGET):
        self.model = model
        self.training_data = training_data
        self.mode = mode
        self.n_samples = n_samples
        self.kernel_width = kernel_width
        self.alpha = alpha
        self.discretize = discretize
        self.categorical_features = categorical_features
        self.segmentation = segmentation
        self.grid = grid
        self.channel_axis = channel_axis
        self.masked_value = masked_value
        self.mask_token = mask_token
        self.token_pattern = token_pattern
        self.tokenizer = tokenizer
        self.target = target
        self.feature_names = feature_names
        self.num_features = num_features
        self.class_names = class_names
        self.categorical_names = categorical_names
        self.random_state = random_state
        self.batch_size = batch_size
        self.executor = executor
        self.progress = progress
        self.memory_budget = memory_budget

    # -- inputs --------------------------------------------------------------------------------
    def _check_inputs(self, x, name, batch=False):
        if self.mode != "text":
            return super()._check_inputs(x, name, batch)
        docs = list(x) if batch and not isinstance(x, str) else [x]
        if batch and isinstance(x, str):
            raise ValueError(f"{name} must be a list of documents, got one string; use explain()")
        for i, doc in enumerate(docs):
            if not isinstance(doc, str):
                raise ValueError(f"text mode explains strings; {name}[{i}] is {type(doc).__name__}")
        return docs

    # -- the run -------------------------------------------------------------------------------
    def _explain(self, X, targets, labels):
        mode = self.mode
        run = _Run(int(self.n_samples), float(self.alpha), seed_sequence(self.random_state))
        model = as_model(self.model)
        engine = self._engine(model)
        try:
            if mode == "tabular":
                return self._tabular(run, X, targets, labels, engine)
            explain_one = self._image if mode == "image" else self._text
            return [explain_one(run, X[i], targets[i], labels[i], engine) for i in range(len(X))]
        finally:
            engine.close()

    def _surrogate(self, run, Z, distances, default_width):
        """``(WeightedRidge, kernel width)`` for the samples ``Z`` at ``distances`` from x."""
        width = default_width if self.kernel_width is None else float(self.kernel_width)
        with single_blas_thread():
            return WeightedRidge(Z, kernel(distances, width), run.alpha), width

    def _fit(self, run, x, surrogate, outputs, target, n_evaluations, **fields):
        ridge, width = surrogate
        target = resolve_target(self._target(target), outputs[0])
        y = outputs if target == "all" else outputs[:, [target]]
        with single_blas_thread():
            coef, intercept, score = ridge.fit(y)
            used = None
            if self.num_features is not None and self.num_features < coef.shape[0]:
                # lime's num_features: keep the largest weights, refit on those features alone
                used = np.sort(np.argsort(-np.abs(coef).max(axis=1), kind="stable")[: self.num_features])
                kept, intercept, score = ridge.on_columns(used).fit(y)
                coef = np.zeros_like(coef)
                coef[used] = kept
        local = intercept + ridge.Z[0] @ coef

        def scalar_or_list(v):
            return v.tolist() if target == "all" else float(v[0])

        info = {"score": scalar_or_list(score), "intercept": scalar_or_list(intercept),
                "local_prediction": scalar_or_list(local), "kernel_width": float(width),
                "alpha": run.alpha, **fields.pop("info", {})}
        if used is not None:
            info["features_used"] = used.tolist()
        if self.class_names is not None:
            if len(self.class_names) != outputs.shape[1]:
                raise ValueError(f"class_names has {len(self.class_names)} names but the model has "
                                 f"{outputs.shape[1]} outputs")
            info["class_name"] = list(map(str, self.class_names)) if target == "all" else str(self.class_names[target])
        values = coef if target == "all" else coef[:, 0]
        output = take_target(outputs[0], target)
        return Attribution(
            values, base_value=intercept.copy() if target == "all" else float(intercept[0]),
            output=output.copy() if target == "all" else float(output), target=target,
            n_evaluations=n_evaluations, method="lime", x=x, info=info, **fields,
        )

    def _tabular(self, run, X, targets, labels, engine):
        if X.ndim != 2:
            raise ValueError(f"tabular mode explains rows of shape (M,); got inputs of shape {X.shape[1:]}")
        if self.training_data is None:
            raise ValueError("tabular mode needs training_data (N, M) for its sampling statistics")
        train = check_array(self.training_data, "training_data", min_ndim=2)
        if train.shape[1:] != X.shape[1:]:
            raise ValueError(f"training_data has shape {train.shape} but x has shape {X.shape[1:]}")
        m, n = X.shape[1], run.n
        cat = self._categorical(m)
        category_names = self._category_names(cat)
        rng = np.random.default_rng(run.seed)
        if self.discretize is None:
            sigma = train.std(axis=0)
            sigma[sigma == 0] = 1.0
            offsets = rng.standard_normal((n, m))
            offsets[0] = 0.0
        else:
            q = {"quartile": 4, "decile": 10}[self.discretize]
            edges = np.quantile(train, np.linspace(0, 1, q + 1)[1:-1], axis=0)  # (q-1, M)
            picks = train[rng.integers(len(train), size=(n, m)), np.arange(m)]
        # categorical columns: values drawn from the training rows (their frequencies)
        if len(cat):
            categories = train[rng.integers(len(train), size=(n, len(cat))), cat[None, :]]
        # continuous sampling without categorical columns: every row has the same samples Z (the
        # offsets) and distances, so one surrogate design serves them all, and the model's inputs
        # x + sigma * Z are formed directly in its batch
        share = self.discretize is None and not len(cat)
        space = FeatureSpace(X.shape[1:])
        masker = engine.prepare(OffsetMasker(X, sigma, space) if share else ValueMasker(X.astype(np.float64), space))
        results, surrogate = [], None
        for i, x in enumerate(X):
            if share:
                plan = Z = offsets
            elif self.discretize is None:
                plan, Z = offsets * sigma + x, offsets
            else:
                plan = picks.copy()
                plan[0] = x
                Z = same_bin(plan, x, edges)
            if len(cat):
                plan[:, cat] = categories
                plan[0, cat] = x[cat]
                Z = Z.copy()
                Z[:, cat] = plan[:, cat] == x[cat]
            if surrogate is None or not share:
                if self.discretize is None:  # standardised offsets; categorical: 1 - same category
                    gap = Z
                    if len(cat):
                        gap = Z.copy()
                        gap[:, cat] = 1.0 - gap[:, cat]
                    distances = np.sqrt(np.einsum("ij,ij->i", gap, gap))
                else:
                    distances = np.sqrt(m - Z.sum(axis=1))
                surrogate = self._surrogate(run, Z, distances, 0.75 * np.sqrt(m))
            outputs = engine.evaluate(masker, np.full(n, i), plan, labels)
            info = {"discretize": self.discretize, "categorical_features": cat.tolist()}
            conditions = self._conditions(x, cat, edges if self.discretize is not None else None, category_names)
            if conditions is not None:
                info["conditions"] = conditions
            results.append(self._fit(run, x, surrogate, outputs, targets[i], n, info=info))
        return results

    def _category_names(self, cat):
        """``categorical_names`` as ``{column: names}``, checked against the categorical columns."""
        names = {int(k): v for k, v in (self.categorical_names or {}).items()}
        if set(names) - set(cat.tolist()):
            raise ValueError(f"categorical_names names columns {sorted(set(names) - set(cat.tolist()))} that are "
                             "not in categorical_features")
        return names

    @staticmethod
    def _conditions(x, cat, edges, names):
        """Per feature, what the surrogate's 1 means for x, with ``{}`` for the feature's name:
        ``"{} = female"`` (a category, named by ``names``, see :meth:`_category_names`),
        ``"0.3 <= {} < 0.5"`` (x's bin); None when every feature is plain."""
        if not names and edges is None:
            return None
        conditions = []
        for j, value in enumerate(x):
            if j in names:
                code = int(value)
                label = names[j][code] if 0 <= code < len(names[j]) and code == value else f"{value:g}"
                conditions.append(f"{{}} = {label}")
            elif j in cat or edges is None:
                conditions.append("{}" if j not in cat else f"{{}} = {value:g}")
            else:
                k = int((edges[:, j] <= value).sum())
                lo = f"{edges[k - 1, j]:.4g} <= " if k > 0 else ""
                hi = f" < {edges[k, j]:.4g}" if k < len(edges) else ""
                conditions.append(f"{lo}{{}}{hi}")
        return conditions

    def _categorical(self, m):
        cat = np.asarray(self.categorical_features if self.categorical_features is not None else [], dtype=int)
        if cat.ndim != 1 or ((cat < 0) | (cat >= m)).any() or len(np.unique(cat)) != len(cat):
            raise ValueError(f"categorical_features must list distinct column numbers in [0, {m}), "
                             f"got {self.categorical_features!r}")
        return np.sort(cat)

    def _segments(self, x, spatial):
        if isinstance(self.segmentation, str):
            kind = self.segmentation
            grid = tuple(int(g) for g in self.grid)
            if kind == "grid":
                return grid_segments(*spatial, grid)
            try:
                from skimage.segmentation import slic
            except ImportError as exc:
                raise ImportError("segmentation='slic' needs scikit-image: pip install scikit-image") from exc
            return slic(x, n_segments=grid[0] * grid[1], channel_axis=-1 if x.ndim == 3 else None, start_label=0)
        segments = np.asarray(self.segmentation)
        if segments.shape != spatial or not np.issubdtype(segments.dtype, np.integer):
            raise ValueError(f"segmentation must be an int map of shape {spatial}, got "
                             f"{segments.dtype} {segments.shape}")
        return segments

    def _image(self, run, x, target, label, engine):
        axis = _channel_axis(x, self.channel_axis)
        hwc = x if axis in (None, 2) else np.moveaxis(x, 0, -1)
        segments = self._segments(hwc, hwc.shape[:2])
        group_map = segments if axis is None else np.expand_dims(segments, axis)
        space = FeatureSpace(x.shape, group_map)
        if self.masked_value is None:  # each superpixel's mean colour, per channel
            pixels = hwc.reshape(hwc.shape[0], hwc.shape[1], -1)
            inv = np.unique(segments, return_inverse=True)[1].ravel()
            counts = np.bincount(inv)
            means = np.stack([np.bincount(inv, pixels[..., c].ravel()) / counts for c in range(pixels.shape[2])], 1)
            filled = means[inv].reshape(pixels.shape)
            filled = filled.reshape(hwc.shape) if axis is not None else filled[..., 0]
            masked = filled if axis in (None, 2) else np.moveaxis(filled, -1, 0)
        else:
            masked = resolve_masked_input(self.masked_value, x.shape)
        Z = on_off_samples(np.random.default_rng(run.seed), run.n, space.n_features)
        outputs = engine.evaluate(engine.prepare(Masker(x[None], masked, space)), np.zeros(run.n, np.intp), Z,
                                  [label])
        group_ids, feature_map = self._group_info(space)
        return self._fit(run, x, self._surrogate(run, Z, cosine_distance_to_ones(Z), 0.25), outputs, target, run.n,
                         group_ids=group_ids, feature_map=feature_map)

    def _tokens(self, doc, label):
        """``[(word, (start, end))]`` of ``doc``: the pattern's matches, or the tokenizer's words
        found in order."""
        if self.tokenizer is None:
            try:
                pattern = re.compile(self.token_pattern)
            except re.error as exc:
                raise ValueError(f"token_pattern {self.token_pattern!r} is not a regular expression: {exc}") from None
            return [(m.group(), m.span()) for m in pattern.finditer(doc) if m.group()]
        tokens, at = [], 0
        for word in self.tokenizer(doc):
            start = doc.find(str(word), at)
            if start < 0 or not word:
                raise ValueError(f"{label}: the tokenizer returned {word!r}, which does not occur in the document "
                                 "after the words before it; a tokenizer must return the document's words in order")
            tokens.append((str(word), (start, start + len(word))))
            at = start + len(word)
        return tokens

    def _text(self, run, doc, target, label, engine):
        tokens = self._tokens(doc, label)
        if not tokens:
            raise ValueError(f"{label} has no words to explain: {doc[:60]!r}")
        first = {}  # word -> feature number, in the order of first appearance
        feature_of_token = np.array([first.setdefault(word, len(first)) for word, _ in tokens], dtype=np.intp)
        words = list(first)
        spans = [span for _, span in tokens]
        masker = TextMasker(doc, spans, feature_of_token, self.mask_token)
        Z = on_off_samples(np.random.default_rng(run.seed), run.n, len(words))
        outputs = engine.evaluate(masker, np.zeros(run.n, np.intp), Z, [label])
        return self._fit(run, doc, self._surrogate(run, Z, cosine_distance_to_ones(Z), 0.25), outputs, target,
                         run.n, feature_names=[str(w) for w in words],
                         info={"spans": [list(s) for s in spans], "feature_of_token": feature_of_token.tolist()})
