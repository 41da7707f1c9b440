"""The one file format: every result type registered, written atomically, checked when read."""
import json

import numpy as np
import pytest

from blackbox_xai import NoSISWarning, OcclusionExplainer, SISExplainer, load_result
from blackbox_xai.result_files import FORMAT_VERSION, save_npz
from helpers import total


def test_every_result_type_reads_back_through_one_function(tmp_path):
    from sklearn.linear_model import LogisticRegression

    from blackbox_xai import LRP

    X = np.random.default_rng(0).normal(size=(20, 3))
    results = [SISExplainer(total, 1.0).explain([0.5, 0.7, 0.1]),
               OcclusionExplainer(total, 1).explain(np.ones(3)),
               LRP(LogisticRegression().fit(X, X[:, 0] > 0)).explain(X[0])]
    for i, result in enumerate(results):
        path = result.save(tmp_path / f"r{i}")
        assert path.endswith(".npz") and type(load_result(path)) is type(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r0.npz", "r1.npz", "r2.npz"]  # no leftovers


def test_files_that_are_not_results_get_a_clear_error(tmp_path):
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not a saved blackbox-xai result"):
        load_result(tmp_path / "plain.npz")
    save_npz(tmp_path / "other", "Something", {}, {"a": np.ones(2)})
    with pytest.raises(ValueError, match="holds 'blackbox_xai.Something', not a blackbox-xai result"):
        load_result(tmp_path / "other.npz")


def test_a_newer_format_is_refused(tmp_path):
    path = OcclusionExplainer(total, 1).explain(np.ones(3)).save(tmp_path / "r")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    meta["version"] = FORMAT_VERSION + 1
    np.savez(path, **arrays, __meta__=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match="written by a newer blackbox-xai"):
        load_result(path)


def _assert_same_state(a, b):
    """Two results describe themselves identically: the same metadata and the same arrays (same
    dtype, shape and every bit of every value)."""
    (meta_a, arrays_a), (meta_b, arrays_b) = a._state(), b._state()
    assert type(a) is type(b)
    assert json.dumps(meta_a, sort_keys=True, default=str) == json.dumps(meta_b, sort_keys=True, default=str)
    assert sorted(arrays_a) == sorted(arrays_b)
    for name in arrays_a:
        x, y = np.asarray(arrays_a[name]), np.asarray(arrays_b[name])
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name


def _every_kind_of_result():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from blackbox_xai import LRP, KernelShapExplainer, LimeExplainer

    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    clf = LogisticRegression().fit(X, X[:, 0] + X[:, 1] > 0)
    docs = ["good fine film", "bad awful film", "good good plot", "awful bad plot"] * 3
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 3)
    with pytest.warns(NoSISWarning):
        no_sis = SISExplainer(total, 1.5).explain([0.5, 0.7, 0.1])  # no SIS: a reason, no items
    return [
        SISExplainer(total, 1.0).explain([0.5, 0.7, 0.1]),
        no_sis,
        OcclusionExplainer(total, (1, 2)).explain(np.arange(12, dtype=np.float32).reshape(3, 4)),
        KernelShapExplainer(clf.predict_proba, background=X[:10], random_state=0).explain(X[0]),
        KernelShapExplainer(clf.predict_proba, background=X[:10], random_state=0).explain(X[1], target="all"),
        LimeExplainer(pipe.predict_proba, mode="text", n_samples=200, random_state=0).explain("good fine plot"),
        LRP(clf).explain(X[0]),
        LRP(pipe).explain_batch(docs[:2]),
    ]


def test_the_json_form_reads_back_every_result_exactly():
    from blackbox_xai.result_files import result_from_json as from_json

    for result in _every_kind_of_result():
        doc = result.to_json()
        text = json.dumps(doc, allow_nan=False)  # strict JSON: no NaN or Infinity literals
        _assert_same_state(from_json(text), result)
        _assert_same_state(type(result).from_json(doc), result)


def test_the_json_form_and_the_file_hold_the_same(tmp_path):
    for i, result in enumerate(_every_kind_of_result()):
        from_file = load_result(result.save(tmp_path / f"r{i}"))
        _assert_same_state(from_file, type(result).from_json(from_file.to_json()))


def test_json_keeps_float32_and_non_finite_values():
    from blackbox_xai import Attribution

    values = np.array([np.nan, np.inf, -np.inf, 0.1, 1e-45], dtype=np.float32)
    result = Attribution(values, base_value=0.0, output=1.0, target=0, n_evaluations=3, method="x", x=np.ones(5))
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert doc["arrays"]["values"]["data"][:3] == ["NaN", "Infinity", "-Infinity"]
    back = Attribution.from_json(doc)
    assert back.values.dtype == np.float64  # Attribution keeps values as float64 ...
    _assert_same_state(back, result)  # ... and its float32 input comes back float32


def test_json_documents_that_are_not_results_are_refused():
    from blackbox_xai.result_files import result_from_json as from_json

    doc = OcclusionExplainer(total, 1).explain(np.ones(3)).to_json()
    with pytest.raises(ValueError, match="not a blackbox-xai result: format 'x'"):
        from_json({**doc, "format": "x"})
    with pytest.raises(ValueError, match="newer blackbox-xai"):
        from_json({**doc, "version": FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match="array 'values' of the document cannot be read"):
        from_json({**doc, "arrays": {**doc["arrays"], "values": {"dtype": "float64", "shape": [9], "data": [1]}}})
    from blackbox_xai import SISCollection

    with pytest.raises(ValueError, match="holds a result of type Attribution, not SISCollection"):
        SISCollection.from_json(doc)
