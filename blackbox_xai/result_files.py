"""The two forms every result takes outside Python, made from one description of it.

A result class (:class:`~blackbox_xai.SISCollection`, :class:`~blackbox_xai.Attribution`, LRP
:class:`~blackbox_xai.lrp.Relevance`) describes itself as ``(meta, arrays)``: JSON-ready metadata
and named numpy arrays (``_state``), and is rebuilt from them (``_from_state``). From that one
description come

- **files**: an ``.npz`` of the arrays plus a JSON ``__meta__`` entry naming the result type
  (``"blackbox_xai.<Type>"``) and the format version, written atomically (``save`` / ``load``,
  :func:`load_result`); ``allow_pickle`` is never needed;
- **JSON**: ``{"format": "blackbox_xai.<Type>", "version": 1, "meta": {...}, "arrays": {name:
  {"dtype": "float64", "shape": [...], "data": [row-major values]}}}`` (``to_json`` /
  :func:`result_from_json`). Floats are written with as many digits as read back the same number
  (``float32`` arrays come back as ``float32``), so a result read back equals the one written;
  NaN and infinities are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

Job folders, the command line and the service all go through here.
"""
from __future__ import annotations

import abc
import json
import os

import numpy as np

FORMAT_VERSION = 1
_CLASSES = {}  # "blackbox_xai.<Type>" -> the class


class ResultFormat(abc.ABC):
    """Mixin of the result classes: ``save``/``load`` (files) and ``to_json``/``from_json`` from the
    class's ``_state()`` and ``_from_state(meta, arrays)``."""

    @abc.abstractmethod
    def _state(self):
        """``(meta, arrays)``: JSON-able metadata and named arrays that describe the result."""

    @classmethod
    @abc.abstractmethod
    def _from_state(cls, meta, arrays):
        """The result described by ``_state()``'s ``(meta, arrays)``."""

    def save(self, path) -> str:
        """Write to ``path`` (``.npz`` appended if missing), atomically: a reader sees the old file
        or the new one, never half of one. Returns the path."""
        meta, arrays = self._state()
        return save_npz(path, type(self).__name__, meta, arrays)

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        kind = cls.__name__
        with np.load(os.fspath(path), allow_pickle=False) as data:
            meta = read_meta(data, path, kind)
            arrays = {name: data[name] for name in data.files if name != "__meta__"}
        return cls._from_state(meta, arrays)

    def to_json(self) -> dict:
        """The result as a JSON-ready dict (see :mod:`blackbox_xai.result_files`)."""
        meta, arrays = self._state()
        return {"format": f"blackbox_xai.{type(self).__name__}", "version": FORMAT_VERSION,
                "meta": json.loads(json.dumps(meta, default=_plain)),
                "arrays": {name: array_to_json(np.asarray(a)) for name, a in arrays.items()}}

    @classmethod
    def from_json(cls, doc):
        """Read a result written by :meth:`to_json` (also parsed JSON text of it)."""
        result = result_from_json(doc)
        if not isinstance(result, cls):
            raise ValueError(f"the document holds a result of type {type(result).__name__}, not {cls.__name__}")
        return result


def register(cls):
    """Class decorator: results whose format is ``blackbox_xai.<cls name>`` are read by ``cls``."""
    _CLASSES[f"blackbox_xai.{cls.__name__}"] = cls
    return cls


def save_npz(path, kind: str, meta: dict, arrays: dict) -> str:
    """Write ``arrays`` and ``meta`` (JSON-ready) as a ``kind`` result to ``path`` (``.npz``
    appended if missing), atomically. Returns the path."""
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


def unplain(value):
    """The inverse of :func:`_plain` for class pairs: ``{"pair": [a, b]}`` -> ``(a, b)``."""
    return tuple(value["pair"]) if isinstance(value, dict) and set(value) == {"pair"} else value


_NON_FINITE = {"NaN": np.nan, "Infinity": np.inf, "-Infinity": -np.inf}


def array_to_json(a: np.ndarray) -> dict:
    if a.dtype.kind not in "biufU":
        raise TypeError(f"cannot write an array of dtype {a.dtype} as JSON")
    flat = a.ravel().tolist()  # Python floats print the shortest text that reads back the same
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        flat = [v if np.isfinite(v) else ("NaN" if v != v else ("Infinity" if v > 0 else "-Infinity"))
                for v in flat]
    return {"dtype": a.dtype.str if a.dtype.kind == "U" else a.dtype.name, "shape": list(a.shape), "data": flat}


def array_from_json(name, doc) -> np.ndarray:
    try:
        dtype = np.dtype(doc["dtype"])
        data = doc["data"]
        if dtype.kind == "f":
            data = [_NON_FINITE[v] if isinstance(v, str) else v for v in data]
        return np.array(data, dtype=dtype).reshape(doc["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"array {name!r} of the document cannot be read ({type(exc).__name__}: {exc})") from None


def _import_result_types():
    import importlib

    for module in ("blackbox_xai.explanation", "blackbox_xai.lrp.result"):  # they register their types
        importlib.import_module(module)


def result_from_json(doc):
    """Any result from its JSON form (a dict, or its JSON text): whichever type it names."""
    _import_result_types()
    if isinstance(doc, (str, bytes)):
        doc = json.loads(doc)
    if not isinstance(doc, dict) or doc.get("format") not in _CLASSES:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"not a blackbox-xai result: format {got!r}, expected one of {sorted(_CLASSES)}")
    if not isinstance(doc.get("version"), int) or doc["version"] > FORMAT_VERSION:
        raise ValueError(f"the document was written by a newer blackbox-xai (format {doc.get('version')}); upgrade")
    arrays = doc.get("arrays")
    if not isinstance(arrays, dict) or not isinstance(doc.get("meta"), dict):
        raise ValueError("a blackbox-xai result document needs 'meta' and 'arrays' objects")
    return _CLASSES[doc["format"]]._from_state(doc["meta"], {k: array_from_json(k, v) for k, v in arrays.items()})


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
    _import_result_types()
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "__meta__" not in data:
            raise ValueError(f"{path} is not a saved blackbox-xai result (no metadata)")
        kind = json.loads(str(data["__meta__"])).get("format")
    if kind not in _CLASSES:
        raise ValueError(f"{path} holds {kind!r}, not a blackbox-xai result")
    return _CLASSES[kind].load(path)
