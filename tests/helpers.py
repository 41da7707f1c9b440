"""Assertions shared by the tests."""
from __future__ import annotations

import numpy as np

# What the library promises where the model sees other calls than in the reference run (another
# batch size, remote requests of another size): a BLAS-backed model's output for a row can change
# in the last bit with the rows that share its call, so results agree to ~1e-12 relative, no more.
ACROSS_CALLS_RTOL = 1e-12


def assert_close_across_calls(actual, desired):
    """``actual`` equals ``desired`` to ``ACROSS_CALLS_RTOL``, relative to the largest magnitude of
    ``desired`` (attributions are differences of outputs: a value near 0 carries the absolute
    error of the outputs, not a relative one of its own)."""
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    scale = float(np.max(np.abs(desired))) if desired.size else 0.0
    np.testing.assert_allclose(actual, desired, rtol=ACROSS_CALLS_RTOL, atol=ACROSS_CALLS_RTOL * scale)
