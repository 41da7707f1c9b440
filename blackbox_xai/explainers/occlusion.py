"""Occlusion: slide a window over the input, give it the masked value, record the output's drop.

Plan: one window corner per model evaluation (plus ``f(x)`` itself), so the evaluations are exactly
``n_windows + 1`` per input. Estimator: the attribution of a position is the mean, over the windows
covering it, of ``f(x) - f(x with the window occluded)``; positions no window covers get 0.
"""
from __future__ import annotations

import itertools
import numbers

import numpy as np

from blackbox_xai._validation import (
    EXECUTION_CONSTRAINTS,
    TARGET,
    ArrayLike,
    Instance,
    PositiveInts,
    resolve_target,
    take_target,
)
from blackbox_xai.adapters import as_model
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET
from blackbox_xai.explainers._base import Explainer
from blackbox_xai.explanation import Attribution
from blackbox_xai.features import BackgroundMean, resolve_masked_input
from blackbox_xai.maskers import WindowMasker


def _per_axis(value, input_shape, name):
    """An int or a tuple of positive ints (checked by the constraints table), aligned to the
    trailing axes of ``input_shape`` -> a tuple of ints."""
    value = (value,) if isinstance(value, numbers.Integral) else tuple(value)
    if len(value) > len(input_shape):
        raise ValueError(f"{name} {value} names {len(value)} axes but x has shape {tuple(input_shape)}")
    return tuple(int(v) for v in value)


def window_corners(input_shape, window, strides) -> np.ndarray:
    """Corners ``(n_windows, ndim)`` of the windows, as captum slides them: along an axis of
    length ``d``, ``ceil((d - w) / s) + 1`` windows start at ``0, s, 2s, ...``; the last one is cut
    at the edge when ``s`` does not divide ``d - w``, so every position is covered."""
    for w, d in zip(window, input_shape):
        if w > d:
            raise ValueError(f"window {tuple(window)} does not fit in x of shape {tuple(input_shape)}")
    for w, d, s in zip(window, input_shape, strides):
        if s > w and d > w:
            raise ValueError(
                f"strides {tuple(strides)} step past window {tuple(window)} on an axis of length {d}: "
                "positions between the windows would never be occluded; use strides <= window"
            )
    starts = [range(0, s * (-(-(d - w) // s)) + 1, s) for d, w, s in zip(input_shape, window, strides)]
    return np.array(list(itertools.product(*starts)), dtype=np.intp).reshape(-1, len(input_shape))


class OcclusionExplainer(Explainer):
    """Occlusion attributions for arrays, images and 1-D sequences.

    Parameters
    ----------
    model : callable, sklearn estimator, torch module or Model
    window : int or tuple of int
        Window shape, aligned to the input's trailing axes: ``(5, 5)`` on a ``(3, 28, 28)`` image
        occludes all channels of 5x5 patches. An int is a window along the last axis only.
    strides : None, int or tuple of int
        Step between windows, aligned like ``window`` (leading axes step by their full size). An
        int steps that far along every axis named by ``window``; None: 1.
    masked_value : float, array or BackgroundMean
        What occluded positions take (captum's ``baselines``): a scalar, an array broadcastable
        to x, or ``BackgroundMean(X_train)``.
    target : None, int or "all"
    batch_size, executor, progress, memory_budget
        Execution settings (see :class:`~blackbox_xai.engine.Engine`).

    Notes
    -----
    Windows slide as captum's: ``ceil((d - w) / s) + 1`` per axis, the last one cut at the edge
    where the stride does not divide ``d - w``, so every position is covered; a stride larger than
    the window is refused (as captum refuses it).
    ``Attribution.base_value`` is ``f(x)``; ``info["n_windows"]`` counts windows.
    """

    _parameter_constraints = {
        "model": "no_validation",  # as_model checks it
        "window": [PositiveInts()],
        "strides": [None, PositiveInts()],
        "masked_value": [ArrayLike(), Instance("a BackgroundMean", BackgroundMean)],
        "target": TARGET,
        **EXECUTION_CONSTRAINTS,
    }

    def __init__(self, model, window, *, strides=None, masked_value=0.0, target=None, batch_size=None,
                 executor=None, progress=False, memory_budget=DEFAULT_MEMORY_BUDGET):
        self.model = model
        self.window = window
        self.strides = strides
        self.masked_value = masked_value
        self.target = target
        self.batch_size = batch_size
        self.executor = executor
        self.progress = progress
        self.memory_budget = memory_budget

    def _explain(self, X, targets, labels):
        model = as_model(self.model)
        input_shape = X.shape[1:]
        named = _per_axis(self.window, input_shape, "window")
        lead = input_shape[: len(input_shape) - len(named)]  # axes the window spans fully
        window = lead + named
        steps = 1 if self.strides is None else self.strides
        if isinstance(steps, numbers.Integral):
            steps = (steps,) * len(named)  # one stride for every axis the window names
        steps = _per_axis(steps, input_shape, "strides")
        if len(steps) != len(named):
            raise ValueError(f"strides {steps} must name as many axes as window {named}")
        strides = lead + steps
        dtype = self._float_dtype(X)
        masked_input = resolve_masked_input(self.masked_value, input_shape, dtype)
        corners = window_corners(input_shape, window, strides)
        n, w = len(X), len(corners)
        X = X.astype(dtype, copy=False)
        engine = self._engine(model)
        masker = engine.prepare(WindowMasker(X, masked_input, window))
        unoccluded = engine.prepare(WindowMasker(X, masked_input, (0,) * len(window)))  # a window of size 0: x
        try:
            fx = engine.evaluate(unoccluded, np.arange(n), np.zeros((n, len(window)), np.intp), labels)
            out = engine.evaluate(masker, np.repeat(np.arange(n), w), np.tile(corners, (n, 1)), labels)
        finally:
            engine.close()
        out = out.reshape(n, w, -1)
        coverage = np.zeros(input_shape)
        slices = [tuple(slice(c, c + s) for c, s in zip(corner, window)) for corner in corners]
        for sl in slices:
            coverage[sl] += 1
        results = []
        for i in range(n):
            target = resolve_target(self._target(targets[i]), fx[i])
            drops = take_target(fx[i] - out[i], target)  # (w,) or (w, K)
            total = np.zeros(input_shape + drops.shape[1:])
            for sl, drop in zip(slices, drops):
                total[sl] += drop
            cover = coverage.reshape(input_shape + (1,) * (drops.ndim - 1))
            values = np.divide(total, cover, out=np.zeros_like(total), where=cover > 0)
            value_fx = take_target(fx[i], target)
            results.append(Attribution(
                values, base_value=value_fx.copy() if target == "all" else float(value_fx),
                output=value_fx.copy() if target == "all" else float(value_fx), target=target,
                n_evaluations=w + 1, method="occlusion", x=X[i],
                info={"n_windows": int(w), "window": list(window), "strides": list(strides)},
            ))
        return results
