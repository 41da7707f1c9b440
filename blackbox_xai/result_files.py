"""The one file format of every result: an ``.npz`` of arrays plus a JSON ``__meta__`` entry naming
the result type (``"blackbox_xai.<Type>"``) and the format version, written atomically.

Result classes register their loader with :func:`register`; :func:`load_result` reads any of them.
Job folders, the command line and the service all go through here.
"""
from __future__ import annotations

import importlib
import json
import os

import numpy as np

FORMAT_VERSION = 1
_LOADERS = {}  # "blackbox_xai.<Type>" -> the class's load


def register(cls):
    """Class decorator: ``cls.load(path)`` reads files whose format is ``blackbox_xai.<cls name>``."""
    _LOADERS[f"blackbox_xai.{cls.__name__}"] = cls.load
    return cls


def save_npz(path, kind: str, meta: dict, arrays: dict) -> str:
    """Write ``arrays`` and ``meta`` (JSON-ready) as a ``kind`` result to ``path`` (``.npz``
    appended if missing), atomically: a reader sees the old file or the new one, never half of
    one. Returns the path."""
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    meta = {"format": f"blackbox_xai.{kind}", "version": FORMAT_VERSION, **meta}
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays, __meta__=np.array(json.dumps(meta, default=_plain)))
    os.replace(tmp, path)
    return path


def _plain(value):
    """JSON for numpy scalars and arrays; tuples (class pairs) kept apart from lists."""
    if isinstance(value, tuple):
        return {"pair": [_plain(v) for v in value]}
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def read_meta(data, path, kind: str) -> dict:
    """The metadata of an open ``np.load`` of ``path``, checked to be a ``kind`` result of a
    format this version reads."""
    if "__meta__" not in data:
        raise ValueError(f"{path} is not a saved {kind} (no metadata)")
    meta = json.loads(str(data["__meta__"]))
    if meta.get("format") != f"blackbox_xai.{kind}":
        raise ValueError(f"{path} holds {meta.get('format')!r}, expected a saved {kind}")
    if meta["version"] > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer blackbox-xai (format {meta['version']}); upgrade")
    return meta


def load_result(path):
    """Load any saved result (:class:`~blackbox_xai.SISCollection`,
    :class:`~blackbox_xai.Attribution`, LRP :class:`~blackbox_xai.lrp.Relevance`), whichever the
    file holds."""
    for module in ("blackbox_xai.explanation", "blackbox_xai.lrp.result"):  # they register their types
        importlib.import_module(module)

    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "__meta__" not in data:
            raise ValueError(f"{path} is not a saved blackbox-xai result (no metadata)")
        kind = json.loads(str(data["__meta__"])).get("format")
    if kind not in _LOADERS:
        raise ValueError(f"{path} holds {kind!r}, not a blackbox-xai result")
    return _LOADERS[kind](path)
