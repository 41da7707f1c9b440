"""The one place that validates user input. Messages name the argument, what was expected and
what came."""
from __future__ import annotations

import abc
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


def check_fitted(estimator, name: str = "estimator") -> None:
    """A clear ValueError for a scikit-learn estimator that has not been fitted."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
    except NotFittedError as exc:
        raise ValueError(f"{name} {type(estimator).__name__} is not fitted; call fit before explaining it") from exc
    except TypeError:  # not an estimator: whoever reads it says what it expected
        pass


def check_positive_int(value, name: str, *, allow_none: bool = True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


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
    """The one way randomness is resolved: a SeedSequence for one ``explain`` call, from
    ``random_state`` (None, an int >= 0, a SeedSequence or a Generator; checked by the explainer's
    constraints). Every input explained in the call starts a fresh Generator from it
    (``np.random.default_rng(seq)``), so ``explain_batch(X)[i]`` equals ``explain(X[i])`` for an
    int seed. A Generator given by the user is advanced once (one seed drawn); NumPy's global RNG
    is never touched."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(2**63)))
    return np.random.SeedSequence(random_state)


# -- declared parameter constraints ------------------------------------------------------------
# Each explainer, LRP and adapter declares ``_parameter_constraints``: for every parameter, a list
# of constraints, any of which a value may satisfy (scikit-learn's parameter validation, small).
# ``validate_params`` checks them in one place; the tests generate invalid values from the same
# tables (``Constraint.counterexamples``).
class Constraint(abc.ABC):
    """One kind of accepted value: ``accepts(value)``, a description for messages, and values just
    outside it for generated tests."""

    @abc.abstractmethod
    def accepts(self, value) -> bool:
        """Whether ``value`` is of this kind."""

    def counterexamples(self) -> list:
        return []


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


class Interval(Constraint):
    """Integers (``kind=int``) or finite reals (``kind=float``, ints included) in ``[low, high]``;
    ``closed`` says which ends belong ("both", "left", "right", "neither"); None: unbounded."""

    def __init__(self, kind, low=None, high=None, *, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value) -> bool:
        if not (_is_int(value) if self.kind is int else _is_real(value) and np.isfinite(value)):
            return False
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left)):
            return False
        return self.high is None or value < self.high or (value == self.high and right)

    def __str__(self):
        kind = "an int" if self.kind is int else "a finite number"
        if self.low is None and self.high is None:
            return kind
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        return f"{kind} in {left}{lo}, {hi}{right}"

    def counterexamples(self):
        out = ["1", None, [1]]
        if self.low is not None:
            out.append(self.low - 1 if self.closed in ("both", "left") else self.low)
        if self.high is not None:
            out.append(self.high + 1 if self.closed in ("both", "right") else self.high)
        out += [1.5, True] if self.kind is int else [float("nan"), float("inf"), -float("inf")]
        return out


class Options(Constraint):
    """One of a few values (strings, usually)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return isinstance(value, (str, type(None))) and value in self.values

    def __str__(self):
        return f"one of {list(self.values)}"

    def counterexamples(self):
        return ["bogus", 1]


class Constant(Constraint):
    def __init__(self, value):
        self.value = value

    def accepts(self, value) -> bool:
        return value is self.value

    def __str__(self):
        return repr(self.value)


class Boolean(Constraint):
    def accepts(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self):
        return "a bool"

    def counterexamples(self):
        return ["yes", 2]


class RandomState(Constraint):
    def accepts(self, value) -> bool:
        return (value is None or (_is_int(value) and value >= 0)
                or isinstance(value, (np.random.SeedSequence, np.random.Generator)))

    def __str__(self):
        return "None, an int >= 0, a numpy SeedSequence or a numpy Generator"

    def counterexamples(self):
        return [-1, 1.5, "0", np.random.RandomState(0)]


class PositiveInts(Constraint):
    """A positive int or a non-empty tuple of positive ints (window shapes, strides); with
    ``length``, a tuple of exactly that many (a grid)."""

    def __init__(self, length=None):
        self.length = length

    def accepts(self, value) -> bool:
        if not isinstance(value, (tuple, list)):
            if self.length is not None:
                return False
            value = (value,)
        right_length = len(value) > 0 if self.length is None else len(value) == self.length
        return right_length and all(_is_int(v) and v >= 1 for v in value)

    def __str__(self):
        if self.length is not None:
            return f"a tuple of {self.length} positive ints"
        return "a positive int or a tuple of positive ints"

    def counterexamples(self):
        return [0, 1.5, None, "3", (), (0, 2), (1.5, 2)]


class Instance(Constraint):
    """An instance of one of ``types`` (classes, or a callable returning them: imports kept lazy)."""

    def __init__(self, description, *types):
        self.description, self.types = description, types

    def accepts(self, value) -> bool:
        types = tuple(t() if not isinstance(t, type) else t for t in self.types)
        return isinstance(value, types)

    def __str__(self):
        return self.description


class Callable(Constraint):
    def accepts(self, value) -> bool:
        return callable(value)

    def __str__(self):
        return "a callable"


class ArrayLike(Constraint):
    """An array (or a scalar, or nested lists) of finite numbers; its shape is checked where it
    is used."""

    def accepts(self, value) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001 - ragged lists and the like
            return False
        if arr.dtype.kind not in "biuf":
            return False
        return arr.dtype.kind != "f" or bool(np.isfinite(arr).all())

    def __str__(self):
        return "an array of finite numbers"

    def counterexamples(self):
        return ["abc", [[float("nan")]], [[1.0, float("inf")]], [[1.0], [2.0, 3.0]], {"a": 1}]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_params(owner: str, constraints: dict, params: dict) -> None:
    """Check every parameter of ``params`` against its declared constraints; an undeclared
    parameter is a programming error. Raises :class:`InvalidParameterError` naming the first
    parameter whose value satisfies none of its constraints."""
    from blackbox_xai.exceptions import InvalidParameterError

    for name, value in params.items():
        allowed = constraints[name]
        if allowed == "no_validation":
            continue
        allowed = [Constant(None) if c is None else c for c in allowed]
        if any(c.accepts(value) for c in allowed):
            continue
        texts = [str(c) for c in allowed]
        expected = texts[0] if len(texts) == 1 else ", ".join(texts[:-1]) + " or " + texts[-1]
        raise InvalidParameterError(f"{name} of {owner} must be {expected}, got {_short(value)}")


def validate_init_args(obj, args: dict) -> None:
    """:func:`validate_params` for a constructor that checks its arguments itself (the adapters:
    a Model is built once, by ``as_model``): ``args`` is its ``locals()``."""
    constraints = type(obj)._parameter_constraints
    validate_params(type(obj).__name__, constraints, {k: v for k, v in args.items() if k in constraints})


# constraints shared by every explainer
EXECUTION_CONSTRAINTS = {
    "batch_size": [None, Interval(int, 1)],
    "executor": [Options("serial", "threads", "ray"), Instance("an Executor", lambda: _executor_type()), None],
    "progress": [Boolean()],
    "memory_budget": [Interval(int, 1)],
}
TARGET = [None, Interval(int), Options("all")]


def _executor_type():
    from blackbox_xai.executors import Executor

    return Executor
