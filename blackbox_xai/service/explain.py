"""One explain request, start to end, without HTTP: read the request, build the explainer, explain
each instance within the request's limits, answer in the JSON form of results.

Request::

    {"instances": [[...], ...], "method": "sis" | "kernelshap" | "lime" | "occlusion",
     "parameters": {"threshold": 0.9, ...}}

Answer::

    {"model": "clf", "method": "sis", "n_evaluations": 1234,
     "explanations": [<result JSON>, {"error": {"type": "...", "message": "..."}}, ...]}

Each explanation is the result's JSON form (:mod:`blackbox_xai.result_files`; read it back with
:func:`blackbox_xai.result_from_json`). An instance that cannot be explained (a wrong shape, a
value the model refuses) gets its own error object; the others are still answered.
"""
from __future__ import annotations

import time

import numpy as np

from blackbox_xai._validation import ArrayLike
from blackbox_xai.adapters import BudgetedModel
from blackbox_xai.exceptions import BudgetExceededError, RemoteModelError
from blackbox_xai.jobs import _methods, explain_rows
from blackbox_xai.service.config import METHODS

# settings of the service, not of a request: where and how much to compute; and a regular
# expression, which a request could make run for ever
NOT_FROM_REQUESTS = ("model", "executor", "progress", "memory_budget", "batch_size", "token_pattern", "tokenizer")


class RequestError(Exception):
    """A request the service answers with ``status`` and ``message`` (JSON ``{"error": ...}``)."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def explainer_params(method, parameters, defaults):
    """The explainer's keyword arguments: the model's configured defaults for ``method``, then
    the request's ``parameters`` (lists become arrays where the explainer takes an array)."""
    if method not in METHODS:
        raise RequestError(422, f"method must be one of {list(METHODS)}, got {method!r}")
    if not isinstance(parameters, dict):
        raise RequestError(422, f"parameters must be an object, got {type(parameters).__name__}")
    cls = _methods()[method]
    constraints = cls._parameter_constraints
    for name in parameters:
        if name in NOT_FROM_REQUESTS:
            raise RequestError(422, f"parameter {name!r} is the service's to set, not a request's")
        if name not in constraints:
            allowed = sorted(set(constraints) - set(NOT_FROM_REQUESTS))
            raise RequestError(422, f"{method} has no parameter {name!r}; it takes {allowed}")
    params = {**defaults.get(method, {}), **parameters}
    for name, value in params.items():
        if isinstance(value, list):  # JSON has lists only: arrays and tuples as the explainer takes them
            params[name] = (np.asarray(value) if any(isinstance(c, ArrayLike) for c in constraints[name])
                            else tuple(value))
    return cls, params


def build_explainer(method, parameters, defaults, model):
    """``(explainer, params)``: the explainer for ``model``, every value checked (422 otherwise),
    and the keyword arguments it was made with."""
    cls, params = explainer_params(method, parameters, defaults)
    try:
        explainer = cls(model, **params)
        explainer._validate_params()
    except (ValueError, TypeError) as exc:
        raise RequestError(422, str(exc)) from None
    return explainer, params


def _instances(body, limits, text):
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise RequestError(422, "instances must be a non-empty list of inputs")
    if len(instances) > limits.max_instances:
        raise RequestError(413, f"{len(instances)} instances in one request; the limit is "
                           f"{limits.max_instances} (max_instances): split the request or submit a job")
    rows, errors = [], {}
    for i, inst in enumerate(instances):
        if text:
            if not isinstance(inst, str):
                errors[i] = ("ValueError", f"instance {i}: a text explainer takes a string, got {type(inst).__name__}")
            rows.append(inst)
            continue
        try:
            arr = np.asarray(inst, dtype=float)
        except (TypeError, ValueError):
            errors[i] = ("ValueError", f"instance {i} is not an array of numbers")
            arr = None
        rows.append(arr)
    return rows, errors


def explain_request(entry, model, body, limits, deadline):
    """Answer one explain request (``body``: the parsed JSON) for the configured model ``entry``
    whose adapted model is ``model``; raises :class:`RequestError` for what the whole request
    gets."""
    if not isinstance(body, dict):
        raise RequestError(400, f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = set(body) - {"instances", "method", "parameters"}
    if unknown:
        raise RequestError(422, f"unknown fields {sorted(unknown)}; a request has instances, method, parameters")
    method = body.get("method")
    budget = BudgetedModel(model, max_evaluations=limits.max_evaluations, deadline=deadline)
    explainer, _ = build_explainer(method, body.get("parameters") or {}, entry.defaults, budget)
    text = method == "lime" and explainer.mode == "text"
    rows, errors = _instances(body, limits, text)
    answers = [None] * len(rows)
    groups = {}  # instances of one shape are explained as one batch
    for i, row in enumerate(rows):
        if i not in errors:
            groups.setdefault("text" if text else row.shape, []).append(i)
    try:
        for members in groups.values():
            X = [rows[i] for i in members] if text else np.stack([rows[i] for i in members])
            results, failed = explain_rows(explainer, X, [f"instance {i}" for i in members], on_error="record")
            for k, i in enumerate(members):
                if k in failed:
                    kind, _, message = failed[k].partition(": ")
                    errors[i] = (kind, message)
                else:
                    answers[i] = results[k].to_json()
    except BudgetExceededError as exc:
        if exc.kind == "time":
            raise RequestError(504, f"{exc} (timeout_s {limits.timeout_s:g})") from None
        raise RequestError(422, f"{exc} (max_evaluations); ask for fewer samples or instances") from None
    except RemoteModelError as exc:
        raise RequestError(502, str(exc)) from None
    for i, (kind, message) in errors.items():
        answers[i] = {"error": {"type": kind, "message": message}}
    return {"model": entry.name, "method": method, "n_evaluations": budget.n_evaluations, "explanations": answers}


def deadline_in(seconds):
    return time.monotonic() + seconds
