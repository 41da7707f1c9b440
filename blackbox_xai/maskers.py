"""Maskers: per-row plan entries -> model inputs.

The engine hands a masker ``rows`` (which input is being explained) and one plan entry per model
evaluation; the masker builds the model's batch with a few vectorised passes (no per-candidate
Python loop where the input is an array). Every masker has the same small interface:

``build(rows, plan, out=None)``
    The model inputs for the plan entries, ``rows_per_entry`` model rows per entry.
``reduce(outputs)``
    Model outputs ``(n * rows_per_entry, K)`` -> one output per entry ``(n, K)``.
``row_nbytes``
    Bytes of model input built per plan entry (the engine sizes chunks with it).
``astype(dtype)``
    The same masker building its inputs in another floating dtype (the one the model converts
    its inputs to: see ``Model.input_dtype``); itself where that does not apply.

Maskers are small and picklable: an executor ships one to its workers once per call and then
sends plan entries only (a few bytes per feature).

* :class:`Masker` - boolean feature masks, masked features take one fixed input (SIS, LIME on
  images, occlusion-free ablation);
* :class:`RemovalMasker` - single features switched off in a current state of each input (the
  candidates of one backward-selection step: a few bytes per candidate instead of a mask);
* :class:`BackgroundMasker` - boolean feature masks, masked features take their values from each
  row of a background set and the outputs are averaged over it (interventional KernelSHAP); with
  ``relabel``, groups of background rows see the masks through their own relabelling of the
  features and the outputs come back per group;
* :class:`ValueMasker` - the plan entries are the new feature values themselves (LIME tabular);
* :class:`OffsetMasker` - the plan entries are offsets from the input in units of a per-feature
  scale (LIME tabular's continuous sampling);
* :class:`WindowMasker` - the plan entries are window corners, the window takes the masked value
  (occlusion);
* :class:`TextMasker` - boolean masks over the tokens of one document; builds strings.
"""
from __future__ import annotations

import copy

import numpy as np

from blackbox_xai.features import FeatureSpace


def _gather(X, rows, out):
    """``out[:] = X[rows]``. ``mode="clip"``: with ``out`` and the default ``mode="raise"`` NumPy
    gathers into a temporary first and copies it (2-4x slower); rows come from the explainers and
    are always valid indices."""
    np.take(X, rows, axis=0, out=out, mode="clip")


class Masker:
    """Builds model inputs from feature masks for a stack of inputs sharing one feature space.

    Parameters
    ----------
    X : ndarray (N, *input_shape)
        The inputs being explained.
    masked_input : ndarray (*input_shape)
        Values that masked positions take.
    space : FeatureSpace
    """

    rows_per_entry = 1

    def __init__(self, X, masked_input, space: FeatureSpace):
        dtype = np.result_type(X.dtype, masked_input.dtype)
        self.input_shape = space.input_shape
        self.X = np.ascontiguousarray(X, dtype=dtype).reshape(len(X), -1)
        self.masked = np.ascontiguousarray(masked_input, dtype=dtype).ravel()
        self.feature_of_position = space.feature_of_position
        self.dtype = dtype
        # per-element features (and broadcast masks that group nothing): masks are already
        # laid out like the input
        fop = space.feature_of_position
        self._identity = space.n_features == len(fop) and bool(np.all(fop[1:] > fop[:-1]))

    @property
    def row_nbytes(self) -> int:
        return self.X.shape[1] * np.dtype(self.dtype).itemsize * self.rows_per_entry

    _values = ("X", "masked")  # the arrays whose values end up in the model's inputs

    def astype(self, dtype):
        """This masker with its values in the floating ``dtype``: the inputs it builds are then
        exactly ``build(...).astype(dtype)``. Itself when its values are not floating."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype or dtype.kind != "f" or np.dtype(self.dtype).kind != "f":
            return self
        cast = copy.copy(self)
        for name in self._values:
            setattr(cast, name, getattr(self, name).astype(dtype))
        cast.dtype = dtype
        return cast

    def _keep(self, masks):
        """Feature masks (n, M) -> position masks (n, P)."""
        return masks if self._identity else masks[:, self.feature_of_position]

    def _flat_out(self, n, out):
        shape = (n, self.X.shape[1])
        if out is None:
            return np.empty(shape, dtype=self.dtype)
        return out.reshape(-1)[: shape[0] * shape[1]].reshape(shape)

    def build(self, rows, masks, out=None) -> np.ndarray:
        """Inputs for ``masks`` (n, M) applied to ``X[rows]`` (n,), shape ``(n, *input_shape)``.

        ``out`` is an optional reusable buffer with room for the batch. Two vectorised passes:
        gather the rows, then overwrite the dropped positions with the masked values.
        """
        flat = self._flat_out(len(rows), out)
        _gather(self.X, rows, flat)
        np.copyto(flat, self.masked, where=~self._keep(masks))
        return flat.reshape((len(rows),) + self.input_shape)

    def reduce(self, outputs) -> np.ndarray:
        return outputs


class RemovalMasker(Masker):
    """The plan entries are single features ``(n,)``, each switched off in the current input of
    its row: the candidates of one backward-selection step, where every candidate differs from the
    current state by one feature.

    Parameters
    ----------
    current : ndarray (N, P)
        The inputs in their current state, already masked where features were removed (built by
        ``base.build``); rows index it.
    base : Masker
        Supplies the masked values and the feature layout.
    """

    def __init__(self, current, base: Masker):
        self.input_shape = base.input_shape
        self.X = current.reshape(len(current), -1)
        self.masked = base.masked
        self.feature_of_position = base.feature_of_position
        self.dtype = base.dtype
        self._identity = base._identity

    def build(self, rows, features, out=None) -> np.ndarray:
        flat = self._flat_out(len(rows), out)
        _gather(self.X, rows, flat)
        features = np.asarray(features, dtype=np.intp)
        if self._identity:
            flat[np.arange(len(rows)), features] = self.masked[features]
        else:
            np.copyto(flat, self.masked, where=self.feature_of_position == features[:, None])
        return flat.reshape((len(rows),) + self.input_shape)


def _uint_view(a):
    """The same memory as unsigned integers of the same width (float32 -> uint32, ...)."""
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


class BackgroundMasker(Masker):
    """Masked features take their values from every row of a background set; outputs are the
    (weighted) mean over the background: ``v(S) = sum_b w_b f(x_S, b_notS)``.

    Parameters
    ----------
    X : ndarray (N, *input_shape)
    background : ndarray (Nb, *input_shape)
    weights : ndarray (Nb,), optional
        Non-negative background weights (normalised to sum to one); default uniform.
    space : FeatureSpace
    relabel : int ndarray (G, M), optional
        Split the background rows into ``G`` contiguous groups of near-equal size (bounds
        ``round(linspace(0, Nb, G + 1))``), each seeing the masks through its own permutation of
        the features:
        group ``g`` keeps feature ``j`` where the mask holds ``relabel[g, j]``. ``reduce`` then
        returns the (weighted) mean over each group, ``(n, G * K)`` with the group the slower
        index.

    Attributes
    ----------
    n_groups : int
        ``G`` (1 without ``relabel``).
    group_weights : ndarray (G,)
        Each group's share of the background weight.
    """

    _values = ("X", "masked", "background")
    block_bytes = 512 * 2**10  # model input built per pass: stays in a core's L2 cache

    def __init__(self, X, background, weights, space: FeatureSpace, relabel=None):
        super().__init__(X, background[0], space)
        nb = len(background)
        self.background = np.ascontiguousarray(background, dtype=self.dtype).reshape(nb, -1)
        self.rows_per_entry = nb
        w = np.full(nb, 1.0) if weights is None else np.asarray(weights, dtype=float)
        self.weights = w / w.sum()
        self.relabel = None if relabel is None else np.asarray(relabel, dtype=np.intp)
        self.n_groups = 1 if relabel is None else len(self.relabel)
        if relabel is not None:
            if self.relabel.ndim != 2 or self.relabel.shape[1] != space.n_features or not 1 <= len(self.relabel) <= nb:
                raise ValueError(f"relabel must have shape (G, {space.n_features}) with 1 <= G <= {nb}, "
                                 f"got {self.relabel.shape}")
            self._relabel_positions = self.relabel[:, space.feature_of_position]  # (G, P)
        self._bounds = np.linspace(0, nb, self.n_groups + 1).round().astype(np.intp)
        self.group_weights = np.add.reduceat(self.weights, self._bounds[:-1])
        # each row's weight within its group (uniform in a group without weight: it counts for nothing)
        sizes = np.diff(self._bounds)
        group = np.repeat(np.arange(self.n_groups), sizes)
        total = self.group_weights[group]
        self._within = np.where(total > 0, self.weights / np.where(total > 0, total, 1), 1.0 / sizes[group])

    def build(self, rows, masks, out=None) -> np.ndarray:
        """``where(keep, x, b)`` for every mask and background row ``b``, as bit operations on the
        values' binary representation: ``b ^ ((x ^ b) & keep)`` is exact (every value is copied,
        never computed) and runs about twice as fast as a masked copy with a broadcast mask.

        Rows are laid out group by group, then entry by entry, then background row by row: a
        group's rows cycle through its few background rows, which a random forest evaluated about
        a tenth faster than rows laid out entry by entry with every group's background rows in
        turn (a gradient-boosting model about as fast either way)."""
        n, p = len(rows), self.X.shape[1]
        flat = self._flat_out(n * len(self.background), out)
        one = n and rows[0] == rows[-1] and np.all(rows == rows[0])  # one input: x ^ b once
        x = _uint_view(self.X[rows[0]] if one else self.X[rows])  # (P,) or (n, P)
        # the kept features as all-ones / all-zeros words (0 - 1: all ones), then each group's kept
        # positions, group by group (G, n, P), each C-contiguous (gathering the booleans of all
        # groups at once gives a transposed layout, which the conversion reads three times slower)
        kept = np.asarray(masks, dtype=bool)
        if self.relabel is None:
            kept = self._keep(kept)
        word = np.dtype(f"u{flat.itemsize}")
        words = np.empty(kept.shape, dtype=word)
        np.subtract(word.type(0), kept.view(np.uint8), out=words, dtype=word, casting="unsafe")
        if self.relabel is None:
            keeps = words[None]
        else:
            keeps = np.empty((self.n_groups, n, p), dtype=word)
            for g, positions in enumerate(self._relabel_positions):
                np.take(words, positions, axis=1, out=keeps[g], mode="clip")
        for g, (a, b) in enumerate(zip(self._bounds[:-1], self._bounds[1:])):
            k = b - a
            blocks = _uint_view(flat[n * a: n * b]).reshape(n, k, p)
            background = _uint_view(self.background[a:b])
            x_bg = x ^ background if one else None
            # a cache-sized block of entries at a time: its three passes then run in cache
            # (about twice as fast as each pass over the whole batch at one group)
            step = max(1, self.block_bytes // (k * p * flat.itemsize))
            repeats = np.repeat(np.arange(min(step, n)), k)
            for s in range(0, n, step):
                e = min(s + step, n)
                block = blocks[s:e]
                # each entry's keep words copied once per background row first: the operations
                # below then run over whole (k, P) blocks, where an (n, 1, P) operand broadcast
                # over the k rows would be applied P values at a time
                _gather(keeps[g, s:e], repeats[: (e - s) * k], block.reshape(-1, p))
                if one:  # b ^ ((x ^ b) & keep)
                    np.bitwise_and(block, x_bg, out=block)
                    np.bitwise_xor(block, background, out=block)
                else:  # (b & ~keep) ^ (x & keep), x one per entry
                    np.bitwise_and(block, background, out=block)
                    np.bitwise_xor(block, background, out=block)
                    np.bitwise_xor(block, (x[s:e] & keeps[g, s:e])[:, None, :], out=block)
        return flat.reshape((n * len(self.background),) + self.input_shape)

    def reduce(self, outputs) -> np.ndarray:
        n, k = len(outputs) // len(self.background), outputs.shape[1]
        means = [np.einsum("nbk,b->nk", outputs[n * a: n * b].reshape(n, b - a, k), self._within[a:b])
                 for a, b in zip(self._bounds[:-1], self._bounds[1:])]
        return means[0] if len(means) == 1 else np.stack(means, axis=1).reshape(n, -1)


class ValueMasker(Masker):
    """The plan entries are the features' new values ``(n, M)``: feature ``m`` is written to every
    position of its group (tabular LIME samples values instead of switching features off)."""

    def __init__(self, X, space: FeatureSpace):
        super().__init__(X, np.zeros(space.input_shape, X.dtype), space)

    def build(self, rows, values, out=None) -> np.ndarray:
        flat = self._flat_out(len(rows), out)
        np.copyto(flat, values if self._identity else values[:, self.feature_of_position])
        return flat.reshape((len(rows),) + self.input_shape)


class OffsetMasker(Masker):
    """The plan entries are offsets ``z`` (n, M) in units of ``scale`` (M,): feature ``m`` becomes
    ``x + scale[m] * z[m]`` at every position of its group (tabular LIME's sampling around x).

    The inputs are exactly those a :class:`ValueMasker` builds from ``z * scale + x`` (computed
    in float64, then cast to the masker's dtype), but formed a cache-sized block at a time: no
    (n, M) array of values is allocated and written, only the model's batch.
    """

    _values = ()  # computed in float64 whatever the dtype: astype changes only the inputs' dtype
    block_bytes = 64 * 2**10  # float64 temporary per block: stays in cache and in malloc's heap

    def __init__(self, X, scale, space: FeatureSpace):
        super().__init__(np.asarray(X, dtype=np.float64), np.zeros(space.input_shape), space)
        self.scale = np.asarray(scale, dtype=np.float64)

    def build(self, rows, offsets, out=None) -> np.ndarray:
        n = len(rows)
        flat = self._flat_out(n, out)
        step = max(1, self.block_bytes // (8 * flat.shape[1]))
        scale = self.scale if self._identity else self.scale[self.feature_of_position]
        one = n and rows[0] == rows[-1] and np.all(rows == rows[0])  # one input: x broadcast
        block = np.empty((min(step, n), flat.shape[1]))
        for a in range(0, n, step):
            b = min(a + step, n)
            z = offsets[a:b] if self._identity else offsets[a:b][:, self.feature_of_position]
            part = np.multiply(z, scale, out=block[:b - a])
            part += self.X[rows[0]] if one else self.X[rows[a:b]]
            flat[a:b] = part
        return flat.reshape((n,) + self.input_shape)


class WindowMasker(Masker):
    """The plan entries are window corners ``(n, ndim)``; the window of shape ``window`` starting
    there takes the masked input's values (occlusion)."""

    def __init__(self, X, masked_input, window):
        space = FeatureSpace(X.shape[1:])
        super().__init__(X, masked_input, space)
        self.window = tuple(int(w) for w in window)

    def build(self, rows, corners, out=None) -> np.ndarray:
        flat = self._flat_out(len(rows), out)
        _gather(self.X, rows, flat)
        batch = flat.reshape((len(rows),) + self.input_shape)
        masked = self.masked.reshape(self.input_shape)
        for i, corner in enumerate(corners):
            window = tuple(slice(c, c + w) for c, w in zip(corner, self.window))
            batch[(i,) + window] = masked[window]
        return batch


class TextMasker:
    """Boolean masks over the features of one document -> the document with the switched-off
    tokens replaced by ``mask_token`` (removed when it is empty).

    Parameters
    ----------
    text : str
    spans : list of (start, end)
        Character offsets of the tokens.
    feature_of_token : ndarray (T,)
        Feature id of each token (several tokens share a feature when features are words).
    mask_token : str
    """

    rows_per_entry = 1
    dtype = object
    input_shape = ()

    def __init__(self, text, spans, feature_of_token, mask_token=""):
        self.text = text
        self.spans = list(spans)
        self.feature_of_token = np.asarray(feature_of_token, dtype=np.intp)
        self.mask_token = mask_token
        # the text between tokens, before the first and after the last
        ends = [0] + [e for _, e in self.spans]
        starts = [s for s, _ in self.spans] + [len(text)]
        self._gaps = [text[a:b] for a, b in zip(ends, starts)]
        self._tokens = [text[s:e] for s, e in self.spans]

    @property
    def row_nbytes(self) -> int:
        return max(len(self.text), 1)

    def build(self, rows, masks, out=None) -> np.ndarray:
        keep = np.asarray(masks)[:, self.feature_of_token]
        docs = np.empty(len(keep), dtype=object)
        gaps, tokens, blank = self._gaps, self._tokens, self.mask_token
        for i, row in enumerate(keep):
            parts = [gaps[0]]
            for t, kept in enumerate(row):
                parts.append(tokens[t] if kept else blank)
                parts.append(gaps[t + 1])
            docs[i] = "".join(parts)
        return docs

    def reduce(self, outputs) -> np.ndarray:
        return outputs

    def astype(self, dtype):
        return self  # strings: nothing to cast
