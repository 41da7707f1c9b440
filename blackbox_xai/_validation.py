"""The one place that validates user input. Messages name the argument, what was expected and
what came."""
from __future__ import annotations

import numbers

import numpy as np


def check_array(x, name: str = "x", *, allow_nan: bool = False, min_ndim: int = 1) -> np.ndarray:
    """Return ``x`` as a floating ndarray, refusing NaN/inf, object dtypes and too few axes."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} axis(es), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        raise ValueError(
            f"{name} contains {len(bad)} NaN/inf value(s), first at index {tuple(int(i) for i in bad[0])}"
        )
    return arr


def check_finite_scalar(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive_int(value, name: str, *, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


def check_choice(value, name: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_random_state(random_state) -> np.random.Generator:
    """Resolve ``random_state`` (None, int, SeedSequence or Generator) to a fresh Generator.

    Never touches NumPy's global RNG.
    """
    if random_state is None or isinstance(random_state, (numbers.Integral, np.random.SeedSequence)):
        if isinstance(random_state, bool):
            raise ValueError(f"random_state must be None, an int or a Generator, got {random_state!r}")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise ValueError(
        f"random_state must be None, an int, a SeedSequence or a numpy Generator, got {type(random_state).__name__}"
    )


def check_target(target, n_outputs: int, name: str = "target"):
    """Validate an output column index against the model's number of outputs."""
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, numbers.Integral):
        raise ValueError(f"{name} must be an int output index or None, got {target!r}")
    target = int(target)
    if not -n_outputs <= target < n_outputs:
        raise ValueError(f"{name}={target} is out of range for a model with {n_outputs} output(s)")
    return target % n_outputs


def broadcast_targets(target, n: int) -> list:
    """``target`` for ``explain_batch``: None, one value for all ``n`` rows, or one per row."""
    targets = np.asarray(target, dtype=object)
    if targets.ndim > 1 or (targets.ndim == 1 and len(targets) != n):
        raise ValueError(f"target must be None, one value or one per row of X ({n}), got shape {targets.shape}")
    return list(np.broadcast_to(targets, (n,)))


def resolve_target(target, fx, name: str = "target"):
    """The output column(s) to explain given the model's outputs ``fx`` (K,) on the input:
    None -> the predicted class (column 0 for a single output), "all" -> every column, int ->
    that column (validated)."""
    if isinstance(target, str):
        if target != "all":
            raise ValueError(f"{name} must be None, an int or 'all', got {target!r}")
        return "all"
    if target is None:
        return int(np.argmax(fx)) if len(fx) > 1 else 0
    return check_target(target, len(fx), name)


def take_target(outputs, target):
    """Columns of ``outputs`` (..., K) for a resolved target: (...,) for an int, (..., K) for "all"."""
    return outputs if target == "all" else outputs[..., target]


def seed_sequence(random_state) -> np.random.SeedSequence:
    """A SeedSequence for one ``explain`` call: every input explained in the call starts a fresh
    Generator from it, so ``explain_batch(X)[i]`` equals ``explain(X[i])`` for an int seed. A
    Generator given by the user is advanced once (one seed drawn); NumPy's global RNG is never
    touched."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    check_random_state(random_state)  # validates the type
    return np.random.SeedSequence(random_state)
