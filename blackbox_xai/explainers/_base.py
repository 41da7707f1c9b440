"""What every predict-only explainer shares: ``explain`` / ``explain_batch`` over validated inputs
and per-row targets, parameters read off the signature (``get_params``, ``set_params``, ``clone``,
a repr of the non-default ones), and the engine built from the explainer's execution settings."""
from __future__ import annotations

import abc

import numpy as np

from blackbox_xai._params import ParamsMixin
from blackbox_xai.adapters import SklearnModel
from blackbox_xai._validation import broadcast_targets, check_array
from blackbox_xai.engine import DEFAULT_MEMORY_BUDGET, Engine
from blackbox_xai.explanation import Attribution, Explanations, SISCollection


def _labels_of(data, axis):
    """The column names (``axis="columns"``) or the index of a pandas DataFrame, the index of a
    Series for its ``"columns"``; None for anything else."""
    kind = type(data).__name__
    if kind == "DataFrame":
        return [str(c) for c in data.columns] if axis == "columns" else list(data.index)
    if kind == "Series" and axis == "columns":
        return [str(c) for c in data.index]
    return None


class Explainer(ParamsMixin, abc.ABC):
    """Base class: subclasses implement ``_explain(X, targets, labels, **options) -> list``, one
    result per row of ``X``; ``options`` are the keywords a subclass adds to ``explain`` (SIS's
    ``initial_mask``), each already given per row.

    Execution settings every subclass accepts: ``batch_size``, ``executor``, ``progress``,
    ``memory_budget`` (see :class:`~blackbox_xai.engine.Engine`).
    """

    batch_size = None
    executor = None
    progress = False
    memory_budget = DEFAULT_MEMORY_BUDGET

    def explain(self, x, target=None, **options):
        """Explain one input ``x`` (the shape the model takes for one row, without the batch
        axis). ``target``: None (the predicted class), an output index, or "all"; it overrides
        the constructor's."""
        self._validate_params()
        names = _labels_of(x, "columns")
        X = self._check_inputs(x, "x")
        self._check_names(X)
        per_row = {k: None if v is None else [v] for k, v in options.items()}
        results = self._explain(X, [target], ["x"], **per_row)
        self._name_features(results, names)
        return results[0]

    def explain_batch(self, X, target=None, *, labels=None, **options) -> list:
        """Explain every row of ``X`` (shape ``(N, *input_shape)``); ``target`` is one value for
        all rows or one per row; ``labels`` names the rows in errors and warnings (default
        ``X[i]``; a job names them by their row in the dataset). Returns one result per row, as
        :class:`~blackbox_xai.explanation.Explanations` (a list; a DataFrame's index is kept, and
        ``to_frame()`` / ``to_shap()`` turn attributions into one table)."""
        self._validate_params()
        names, index = _labels_of(X, "columns"), _labels_of(X, "index")
        X = self._check_inputs(X, "X", batch=True)
        self._check_names(X)
        if labels is None:
            labels = [f"X[{i}]" for i in range(len(X))]
        elif isinstance(labels, str) or len(labels) != len(X):
            raise ValueError(f"labels must name each of the {len(X)} rows of X, got {labels!r:.80}")
        per_row = {k: None if v is None else [v] * len(X) for k, v in options.items()}
        results = self._explain(X, broadcast_targets(target, len(X)), [str(label) for label in labels], **per_row)
        self._name_features(results, names)
        return Explanations(results, index=index)

    def _feature_names(self, names_of_input):
        """The features' names: the explainer's own ``feature_names``, else the columns of a
        DataFrame given as input, as background or as training data, else the fitted model's
        ``feature_names_in_``; None when nothing names them."""
        explicit = getattr(self, "feature_names", None)
        if explicit is not None:
            return [str(n) for n in explicit]
        if names_of_input is not None:
            return names_of_input
        for attribute in ("background", "training_data"):
            names = _labels_of(getattr(self, attribute, None), "columns")
            if names is not None:
                return names
        model = getattr(self.model, "__self__", self.model)  # a bound clf.predict_proba
        if isinstance(model, SklearnModel):
            model = model.estimator
        names = getattr(model, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def _check_names(self, X):
        """An explicit ``feature_names`` must name the columns of rows, before any work is done."""
        names = getattr(self, "feature_names", None)
        if names is None or not isinstance(X, np.ndarray):  # text: the words name themselves
            return
        if X.ndim != 2:
            raise ValueError(f"feature_names has {len(names)} names but the input has shape {X.shape[1:]}: "
                             "names are for the columns of a row")
        if X.shape[1] != len(names):
            raise ValueError(f"feature_names has {len(names)} names but the input has {X.shape[1]} features")

    def _name_features(self, results, names_of_input):
        """Give each tabular result (an attribution with one value per column of a 1-D input, a
        SIS collection of a 1-D input) its features' names."""
        names = self._feature_names(names_of_input)
        if names is None:
            return
        for r in results:
            if isinstance(r.x, str):
                continue  # text: the words are the features' names
            tabular = np.ndim(r.x) == 1 and r.group_ids is None
            if not tabular or np.size(r.x) != len(names):
                continue
            if isinstance(r, SISCollection):
                r.feature_names = list(names)
            elif isinstance(r, Attribution) and r.feature_names is None and r.values.shape[0] == len(names):
                r.feature_names = list(names)

    # -- for subclasses ------------------------------------------------------------------------
    def _check_inputs(self, x, name, batch=False):
        if batch:
            return check_array(x, name, min_ndim=2)
        return check_array(x, name)[None]

    def _target(self, target):
        return self.target if target is None else target

    def _engine(self, model, executor=None) -> Engine:
        """An engine for ``model`` with this explainer's settings (``executor``: one already
        resolved from ``self.executor``)."""
        return Engine(model, executor=executor or self.executor, batch_size=self.batch_size,
                      memory_budget=self.memory_budget, progress=self.progress)

    @abc.abstractmethod
    def _explain(self, X, targets, labels, **options):
        """One result per row of ``X`` (validated inputs, their targets and labels)."""

    @staticmethod
    def _group_info(space):
        """(group_ids, feature_map) of a feature space for the Attribution."""
        if space.group_ids is None:
            return None, None
        return space.group_ids, space.feature_of_position.reshape(space.input_shape)

    @staticmethod
    def _float_dtype(X):
        return X.dtype if X.dtype in (np.float32, np.float64) else np.float64
