"""The model contract shared by every adapter.

A :class:`Model` maps a batch ``(B, *D)`` to a float64 array ``(B, K)``. Subclasses implement
``_predict``; ``__call__`` is the one place where outputs are checked, so a model that returns the
wrong number of rows, the wrong number of axes or NaN/inf is stopped here with a message that names
the model and the shapes.
"""
from __future__ import annotations

import numpy as np

from blackbox_xai.exceptions import ModelOutputError

OUTPUT_KINDS = ("probability", "logit", "score")


class Model:
    """Base class of the model contract.

    Attributes
    ----------
    name : str
        Human-readable name used in error messages.
    output_kind : {"probability", "logit", "score"}
    batch_size : int or None
        Preferred number of rows per call (a hint for the engine), None for no preference.
    chunk_bytes : int or None
        Preferred bytes of input per call (a hint for the engine, which also keeps every call
        within its memory budget), None for no preference. scikit-learn models prefer
        cache-sized calls (see :class:`~blackbox_xai.adapters.SklearnModel`).
    device : str
        Where the model runs ("cpu", "cuda:0", "remote").
    n_outputs : int or None
        Number of output columns K, known after construction or after the first call.
    input_dtype : numpy dtype or None
        The floating dtype the model converts every input to before computing, where the adapter
        knows it (a torch module's dtype; float32 for scikit-learn's trees). Explainers then build
        their masked inputs in that dtype directly: the values the model computes with are the
        same, in fewer bytes and with one conversion fewer. None: inputs are passed as built.
    """

    output_kind = "score"
    input_dtype = None
    chunk_bytes = None

    def __init__(self, name: str, *, batch_size=None, device: str = "cpu", n_outputs=None):
        self.name = name
        self.batch_size = batch_size
        self.device = device
        self.n_outputs = n_outputs

    def to_device(self, device):
        """Run on ``device`` from now on; models without a device choice ignore it."""
        return self

    def for_copies(self, n: int):
        """The model as one of ``n`` copies running at once (Ray workers); models that share an
        outside resource (a server's request budget) return a copy holding its share."""
        return self

    def _predict(self, batch: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _predict")

    def __call__(self, batch) -> np.ndarray:
        batch = np.asarray(batch)
        out = self._check_output(self._predict(batch), batch.shape)
        # outputs that are a view of the batch (a model returning some of its input columns)
        # would change when the engine reuses the batch's buffer for the next chunk
        return out.copy() if np.may_share_memory(out, batch) else out

    def _check_output(self, out, batch_shape) -> np.ndarray:
        n = batch_shape[0]
        try:
            out = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ModelOutputError(
                f"model {self.name} returned {type(out).__name__} that is not a numeric array "
                f"for a batch of shape {batch_shape}"
            ) from exc
        if out.ndim not in (1, 2) or out.shape[0] != n:
            raise ModelOutputError(
                f"model {self.name} returned shape {out.shape} for a batch of shape {batch_shape}; "
                f"expected ({n},) or ({n}, K)"
            )
        if out.ndim == 1:
            out = out[:, None]
        if out.shape[1] == 0:
            raise ModelOutputError(
                f"model {self.name} returned no output column (shape {out.shape}) for a batch of "
                f"shape {batch_shape}; expected ({n},) or ({n}, K) with K >= 1"
            )
        if self.n_outputs is None:
            self.n_outputs = out.shape[1]
        elif out.shape[1] != self.n_outputs:
            raise ModelOutputError(
                f"model {self.name} returned {out.shape[1]} output column(s), earlier calls "
                f"returned {self.n_outputs}"
            )
        if not np.isfinite(out).all():
            rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
            raise ModelOutputError(
                f"model {self.name} returned NaN/inf for {len(rows)} of {n} row(s) "
                f"(first row {rows[0]}) of a batch of shape {batch_shape}"
            )
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, output_kind={self.output_kind!r}, device={self.device!r})"
