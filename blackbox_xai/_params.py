"""Parameters of explainers and LRP, read off the ``__init__`` signature (scikit-learn's
convention: ``__init__`` stores each parameter under its own name and does nothing else)."""
from __future__ import annotations

import inspect

from blackbox_xai._validation import validate_params


class ParamsMixin:
    """``get_params`` / ``set_params`` from the signature; ``_validate_params`` checks them
    against the class's declared ``_parameter_constraints``."""

    _parameter_constraints: dict = {}

    @classmethod
    def _param_names(cls) -> list:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]

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
