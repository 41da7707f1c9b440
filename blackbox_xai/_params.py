"""Parameters of explainers and LRP, read off the ``__init__`` signature (scikit-learn's
convention: ``__init__`` stores each parameter under its own name and does nothing else)."""
from __future__ import annotations

import functools
import inspect

import numpy as np

from blackbox_xai._validation import _short, validate_params


class ParamsMixin:
    """``get_params`` / ``set_params`` from the signature; ``_validate_params`` checks them
    against the class's declared ``_parameter_constraints``."""

    _parameter_constraints: dict = {}

    @classmethod
    def _param_names(cls) -> list:
        return list(_init_parameters(cls))

    def get_params(self) -> dict:
        """The constructor's parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set parameters by name; returns the explainer. Values are checked at the next call."""
        names = self._param_names()
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}; its parameters: {names}")
            setattr(self, name, value)
        return self

    def _validate_params(self):
        validate_params(type(self).__name__, self._parameter_constraints, self.get_params())

    def __repr__(self):
        """The parameters that differ from their defaults (and those without one)."""
        signature = inspect.signature(type(self).__init__)
        shown = []
        for name, value in self.get_params().items():
            default = signature.parameters[name].default
            if default is not inspect.Parameter.empty and _equal(value, default):
                continue
            shown.append(f"{name}={_short(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"


@functools.cache
def _init_parameters(cls) -> tuple:
    """The names of ``cls.__init__``'s parameters, read once per class (every explain call
    validates its parameters: reading the signature each time cost a quarter millisecond)."""
    signature = inspect.signature(cls.__init__)
    return tuple(p.name for p in signature.parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))


def _equal(value, default) -> bool:
    if value is default:
        return True
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except (TypeError, ValueError):
        return False


def clone(explainer, **changes):
    """A new explainer of the same class with the same parameters, and ``changes`` applied:
    ``clone(explainer, model=other_model, executor="serial")``. Parameter values are shared, not
    copied (as scikit-learn's ``clone(..., safe=False)`` does for non-estimators)."""
    params = explainer.get_params()
    unknown = sorted(set(changes) - set(params))
    if unknown:
        raise ValueError(f"{type(explainer).__name__} has no parameter(s) {unknown}; its parameters: {list(params)}")
    return type(explainer)(**{**params, **changes})
