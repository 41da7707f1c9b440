"""The command line: a sklearn model saved with joblib, explained, resumed, shown."""
import subprocess
import sys

import joblib
import numpy as np
import pytest

from blackbox_xai import BackgroundMean, OcclusionExplainer, SISExplainer
from blackbox_xai.cli import main
from blackbox_xai.jobs import load_results
from helpers import assert_close_across_calls


@pytest.fixture()
def saved(tmp_path, digits_mlp):
    clf, X, _ = digits_mlp
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.save(tmp_path / "X.npy", X[:5])
    return clf, X[:5], tmp_path


def test_cli_round_trip_sis(saved, capsys):
    clf, X, tmp = saved
    args = ["explain", "--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"), "--method", "sis",
            "--threshold", "0.6", "--mode", "fast", "--out", str(tmp / "job"), "--shard-size", "2",
            "--no-progress"]
    assert main(args) == 0
    assert "5/5 rows, 3/3 shards, complete" in capsys.readouterr().out
    results = load_results(tmp / "job")
    expected = SISExplainer(clf, 0.6, mode="fast").explain_batch(X)
    for got, want in zip(results, expected):
        assert [s.features.tolist() for s in got] == [s.features.tolist() for s in want]
    assert main(args) == 0  # a finished job: nothing to do
    assert main(["status", str(tmp / "job")]) == 0
    assert main(["show", str(tmp / "job"), "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "row 0: target" in out and "3 more rows" in out


def test_cli_occlusion_and_kernelshap(saved, capsys):
    _, _, tmp = saved
    base = ["--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"), "--no-progress"]
    assert main(["explain", *base, "--method", "occlusion", "--window", "4", "--strides", "4",
                 "--out", str(tmp / "occ")]) == 0
    assert main(["explain", *base, "--method", "kernelshap", "--n-samples", "200",
                 "--background-rows", "3", "--out", str(tmp / "shap")]) == 0
    assert len(load_results(tmp / "shap")) == 5
    assert main(["show", str(tmp / "shap")]) == 0
    assert "top |values|" in capsys.readouterr().out


def test_cli_masked_value(saved, capsys):
    """--masked-value: the training mean (of --background) for SIS, a number as occlusion's
    baseline; the results equal the explainers' own with the same setting."""
    clf, X, tmp = saved
    train = X[::-1] * 0.5
    np.save(tmp / "train.npy", train)
    base = ["explain", "--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"), "--no-progress"]
    assert main([*base, "--method", "sis", "--threshold", "0.6", "--mode", "fast", "--masked-value", "mean",
                 "--background", str(tmp / "train.npy"), "--out", str(tmp / "sis")]) == 0
    expected = SISExplainer(clf, 0.6, mode="fast", masked_value=BackgroundMean(train)).explain_batch(X)
    for got, want in zip(load_results(tmp / "sis"), expected):
        assert [s.features.tolist() for s in got] == [s.features.tolist() for s in want]
        np.testing.assert_array_equal(got.masked_input, train.mean(axis=0))
    assert main([*base, "--method", "occlusion", "--window", "4", "--masked-value", "0.5",
                 "--out", str(tmp / "occ")]) == 0
    want = OcclusionExplainer(clf, 4, masked_value=0.5).explain(X[0]).values
    assert_close_across_calls(load_results(tmp / "occ")[0].values, want)  # a job calls in shards
    assert main([*base, "--method", "sis", "--threshold", "0.6", "--masked-value", "zero",
                 "--out", str(tmp / "bad")]) == 2
    assert "--masked-value must be a number, 'mean' or a .npy file" in capsys.readouterr().err
    assert main([*base, "--method", "kernelshap", "--masked-value", "0", "--out", str(tmp / "bad")]) == 2
    assert "applies to --method sis and occlusion" in capsys.readouterr().err


def test_cli_errors_are_one_line(saved, capsys):
    _, _, tmp = saved
    assert main(["explain", "--model", str(tmp / "missing.joblib"), "--data", str(tmp / "X.npy"),
                 "--method", "sis", "--threshold", "0.5", "--out", str(tmp / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["explain", "--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"),
                 "--method", "sis", "--out", str(tmp / "o")]) == 2
    assert "needs --threshold" in capsys.readouterr().err
    assert main(["status", str(tmp)]) == 2


def test_python_dash_m_help():
    out = subprocess.run([sys.executable, "-m", "blackbox_xai", "explain", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "--method {sis,kernelshap,lime,occlusion}" in out and "resume" in out


def test_cli_show_says_why_a_row_has_no_sis(saved, capsys):
    clf, X, tmp = saved
    top = clf.predict_proba(X).max(axis=1)
    threshold = float(np.sort(top)[0] + np.sort(top)[1]) / 2  # above the least confident row's own score
    assert main(["explain", "--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"), "--method",
                 "sis", "--threshold", repr(threshold), "--mode", "fast", "--out", str(tmp / "job"),
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp / "job")]) == 0
    out = capsys.readouterr().out
    row = int(np.argmin(top))
    assert f"row {row}: target" in out and "0 SIS" in out
    assert f"no SIS: row {row}:" in out and "does not reach the threshold itself" in out


def test_cli_show_json_is_the_results_json_form(saved, capsys):
    import json

    from blackbox_xai import result_from_json

    _, _, tmp = saved
    assert main(["explain", "--model", str(tmp / "clf.joblib"), "--data", str(tmp / "X.npy"), "--no-progress",
                 "--method", "occlusion", "--window", "8", "--out", str(tmp / "occ")]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp / "occ"), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["row"] for line in lines] == list(range(5))
    for line, stored in zip(lines, load_results(tmp / "occ")):
        np.testing.assert_array_equal(result_from_json(line["explanation"]).values, stored.values)
