"""The one file format: every result type registered, written atomically, checked when read."""
import json

import numpy as np
import pytest

from blackbox_xai import OcclusionExplainer, SISExplainer, load_result
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
