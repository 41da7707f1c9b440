"""Timing helpers shared by the benchmarks."""
from __future__ import annotations

import time

import numpy as np


class Recorder:
    """A model wrapper that keeps a copy of every batch, to replay them through the bare model."""

    def __init__(self, fn):
        self.fn, self.batches = fn, []

    def __call__(self, batch):
        self.batches.append(np.array(batch))
        return self.fn(batch)

    @property
    def n_rows(self) -> int:
        return sum(len(b) for b in self.batches)


def recorded(model, **options):
    """``(as_model(model, **options), recorder)``: the adapted model records each batch as it
    receives it, i.e. after the explainer built it (in the model's ``input_dtype``, if any)."""
    from blackbox_xai import as_model

    adapted = as_model(model, **options)
    recorder = Recorder(adapted._predict)
    adapted._predict = recorder
    return adapted, recorder


def best_time(fn, repeats):
    """(best wall time over ``repeats`` calls of ``fn()``, the last result)."""
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def replay_time(model, batches, repeats):
    """Best time to push the recorded ``batches`` through ``model``, batch by batch."""
    return best_time(lambda: [model(b) for b in batches], repeats)[0]


def paired_times(fn, model, batches, repeats):
    """``repeats`` interleaved pairs: one call of ``fn()``, then the recorded ``batches`` replayed
    through ``model``, back to back. Returns the two lists of wall times.

    On a machine whose speed drifts (a shared VM here moves by 40-70% from one minute to the
    next), the two members of a pair see the same machine, so their ratio is steadier than a
    ratio of best times taken minutes apart."""
    ours, replay = [], []
    for _ in range(repeats):
        ours.append(best_time(fn, 1)[0])
        replay.append(replay_time(model, batches, 1))
    return ours, replay
