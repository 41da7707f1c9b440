"""What a service serves, fixed at start: its models, their default explainer settings, its limits.

A request can only name a configured model and pass explainer parameters (numbers, strings, lists
of numbers); nothing in a request names a file to load or code to run.

Config file (JSON)::

    {
      "models": {
        "clf":    {"source": "clf.joblib",
                   "defaults": {"kernelshap": {"background": "background.npy", "n_samples": 1024},
                                "sis": {"threshold": 0.9}}},
        "remote": {"source": "http://127.0.0.1:8080/v2/models/m",
                   "options": {"output": "predict_proba", "timeout": 10}}
      },
      "limits": {"max_instances": 64, "max_evaluations": 2000000, "timeout_s": 60}
    }

``source`` is a ``.joblib``/``.pkl`` file (loaded with joblib, which runs code: only files you
trust), a TorchScript ``.pt`` file, or the URL of a served model; ``options`` go to the adapter
(:class:`~blackbox_xai.adapters.RemoteModel` for URLs); a string default ending in ``.npy`` is
read as an array. Relative paths are relative to the config file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields

import numpy as np

METHODS = ("sis", "kernelshap", "lime", "occlusion")


@dataclass
class Limits:
    """What one request, and the service as a whole, may ask for."""

    max_body_bytes: int = 16 * 2**20         # an explain request's body (413 beyond)
    max_upload_bytes: int = 1 * 2**30        # a job's upload (413 beyond)
    max_instances: int = 256                 # instances per explain request (413 beyond)
    max_evaluations: int = 5_000_000         # model rows one explain request may evaluate (422 beyond)
    timeout_s: float = 120.0                 # one explain request, queueing included (504 beyond)
    max_concurrent: int = 2                  # explanations computed at once
    max_queued: int = 8                      # waiting for a slot; more get 429 + Retry-After
    max_running_jobs: int = 1                # dataset jobs run at once; more wait in a queue

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"limit {f.name} must be a positive number, got {value!r}")


@dataclass
class ModelEntry:
    """One served model: ``name``, ``source`` (path or URL), adapter ``options`` and per-method
    explainer ``defaults``."""

    name: str
    source: str
    options: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)

    def __repr__(self):  # a URL's password and the options' values (headers) never show
        source = self.source
        if self.is_remote():
            from blackbox_xai.adapters.remote import split_credentials

            source = split_credentials(source)[1]
        return (f"ModelEntry({self.name!r}, {source!r}, options={sorted(self.options)}, "
                f"defaults={ {m: sorted(p) for m, p in self.defaults.items()} })")

    def is_remote(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    def load(self):
        """The model (files are loaded with joblib or TorchScript; URLs become a RemoteModel)."""
        from blackbox_xai.adapters import as_model
        from blackbox_xai.cli import load_model

        if self.is_remote():
            return as_model(self.source, **self.options)
        return as_model(load_model(self.source), **self.options)

    def spec(self) -> dict:
        """What a job's worker process needs to load the model (sent over a pipe, never written
        to disk: a URL may hold credentials, options headers)."""
        return {"name": self.name, "source": self.source, "options": self.options}


@dataclass
class ServiceConfig:
    models: dict            # name -> ModelEntry
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    jobs_dir: str = "blackbox-xai-jobs"

    def __repr__(self):  # the token never shows
        return (f"ServiceConfig(models={sorted(self.models)}, limits={self.limits}, "
                f"token={'***' if self.token else None}, jobs_dir={self.jobs_dir!r})")


def _resolve(value, base):
    if isinstance(value, str) and value.endswith(".npy"):
        path = value if os.path.isabs(value) else os.path.join(base, value)
        if not os.path.exists(path):
            raise ValueError(f"default {value!r}: no such file {path}")
        return np.load(path, allow_pickle=False)
    return value


def model_entry(name, doc, base="."):
    """A :class:`ModelEntry` from its config-file form (``doc``: a source string, or a dict with
    ``source``, ``options``, ``defaults``)."""
    if isinstance(doc, str):
        doc = {"source": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("source"), str):
        raise ValueError(f"model {name!r}: expected a source path/URL or {{'source': ..., ...}}, "
                         f"got {type(doc).__name__}")
    unknown = set(doc) - {"source", "options", "defaults"}
    if unknown:
        raise ValueError(f"model {name!r}: unknown keys {sorted(unknown)} (source, options, defaults)")
    source = doc["source"]
    if not source.startswith(("http://", "https://")) and not os.path.isabs(source):
        source = os.path.join(base, source)
    defaults = doc.get("defaults") or {}
    if set(defaults) - set(METHODS):
        raise ValueError(f"model {name!r}: defaults for unknown methods {sorted(set(defaults) - set(METHODS))}")
    defaults = {m: {k: _resolve(v, base) for k, v in params.items()} for m, params in defaults.items()}
    return ModelEntry(name, source, dict(doc.get("options") or {}), defaults)


def parse_model_arg(text) -> ModelEntry:
    """``NAME=PATH_OR_URL`` (the ``--model`` option)."""
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise ValueError(f"--model {text!r}: expected NAME=PATH or NAME=URL")
    return model_entry(name, source)


def load_config(path=None, models=(), *, token=None, jobs_dir=None, limits=None) -> ServiceConfig:
    """The service's configuration: the config file at ``path`` (if any), then ``models`` (a list
    of ``NAME=SOURCE`` strings or :class:`ModelEntry`), ``limits`` overrides (a dict)."""
    doc = {}
    base = "."
    if path is not None:
        try:
            with open(path) as fh:
                doc = json.load(fh)
        except (OSError, ValueError) as exc:
            raise ValueError(f"config file {path} cannot be read ({type(exc).__name__}: {exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"config file {path}: expected a JSON object")
        base = os.path.dirname(os.path.abspath(path))
        unknown = set(doc) - {"models", "limits", "jobs_dir"}
        if unknown:
            raise ValueError(f"config file {path}: unknown keys {sorted(unknown)} (models, limits, jobs_dir)")
    entries = {name: model_entry(name, d, base) for name, d in (doc.get("models") or {}).items()}
    for m in models:
        entry = m if isinstance(m, ModelEntry) else parse_model_arg(m)
        entries[entry.name] = entry
    if not entries:
        raise ValueError("no model to serve: give --model NAME=PATH_OR_URL or a config file with models")
    try:
        merged = Limits(**{**(doc.get("limits") or {}), **(limits or {})})
    except TypeError as exc:
        raise ValueError(f"limits: {exc}") from None
    jobs = jobs_dir or doc.get("jobs_dir") or "blackbox-xai-jobs"
    if path is not None and not os.path.isabs(jobs) and not jobs_dir:
        jobs = os.path.join(base, jobs)
    return ServiceConfig(entries, merged, token, jobs)
