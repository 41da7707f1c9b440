"""Plain callables: ``f(batch) -> (B,)`` scores or ``(B, K)`` outputs."""
from __future__ import annotations

import numpy as np

from blackbox_xai._validation import Callable, Instance, Interval, Options, validate_init_args
from blackbox_xai.adapters.base import OUTPUT_KINDS, Model


def _callable_name(fn) -> str:
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    if owner is not None and not isinstance(owner, type):
        return f"{type(owner).__name__}.{getattr(fn, '__name__', name)}"
    return name


class CallableModel(Model):
    """Wrap a function ``f(batch) -> array``.

    Outputs of shape ``(B,)`` are read as one score column (K = 1).

    Parameters
    ----------
    fn : callable
        Takes an ndarray ``(B, *D)`` and returns ``(B,)`` or ``(B, K)``.
    output_kind : {"probability", "logit", "score"}, default="score"
    batch_size : int, optional
        Preferred rows per call.
    input_dtype : {None, "float32", "float64"}
        The floating dtype ``fn`` converts its input to, where you know it (a function around a
        scikit-learn forest or a float32 network): explainers then build their masked inputs in
        it, in fewer bytes and with no conversion in the model. None: inputs are passed as built.
    """

    _parameter_constraints = {
        "fn": [Callable()],
        "output_kind": [Options(*OUTPUT_KINDS)],
        "batch_size": [None, Interval(int, 1)],
        "name": [None, Instance("a string", str)],
        "input_dtype": [None, Options("float32", "float64")],
    }

    def __init__(self, fn, *, output_kind: str = "score", batch_size=None, name=None, input_dtype=None):
        validate_init_args(self, locals())
        super().__init__(name or _callable_name(fn), batch_size=batch_size)
        self.fn = fn
        self.output_kind = output_kind
        self.input_dtype = None if input_dtype is None else np.dtype(input_dtype)

    def _predict(self, batch):
        return self.fn(batch)
