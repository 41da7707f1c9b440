"""The CNN-vs-MLP study end to end (small), compare_models, and the plots."""
import os
import re
import runpy
import sys

import numpy as np
import pytest

from blackbox_xai import LimeExplainer, OcclusionExplainer, SISExplainer
from blackbox_xai.analysis import compare_models
from helpers import browser_check, l2, total

pytest.importorskip("matplotlib")
pytest.importorskip("torch")
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


def test_study_headless_report_references_only_existing_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["compare_cnn_mlp.py", "--n-per-model", "4", "--epochs", "2", "--out", str(tmp_path)])
    runpy.run_path(os.path.join(EXAMPLES, "compare_cnn_mlp.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "CNN: test accuracy" in out and "| cluster | n_sis | % CNN | % MLP |" in out
    report = (tmp_path / "report.html").read_text()
    referenced = re.findall(r"src='([^']+)'", report)
    assert referenced, "the report shows no figure"
    assert all((tmp_path / name).is_file() for name in referenced)
    assert any("cluster" in name for name in referenced) and any("sis_CNN" in name for name in referenced)
    for name in ("class4_clusters.csv", "class4_clusters.md", "settings.json"):
        assert (tmp_path / name).is_file()


def test_study_on_a_fashion_mnist_shaped_folder_and_its_report_agrees_with_itself(tmp_path, capsys, monkeypatch):
    import csv
    import json

    from helpers import write_mnist_folder

    folder = write_mnist_folder(tmp_path / "fashion", n_train=600, n_test=60)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["compare_cnn_mlp.py", "--dataset", "fashion-mnist", "--data-dir", str(folder),
                                      "--label", "3", "--n-per-model", "6", "--epochs", "4", "--eps", "0.2",
                                      "--min-samples", "2", "--out", str(out)])
    runpy.run_path(os.path.join(EXAMPLES, "compare_cnn_mlp.py"), run_name="__main__")
    captured = capsys.readouterr()
    assert "CNN epoch 4/4" in captured.err and "CNN SIS: 6/6 inputs" in captured.err and "clustering" in captured.err
    summary = json.loads((out / "settings.json").read_text())
    assert summary["dataset"] == "fashion-mnist" and summary["n_train"] == 600 and summary["n_test"] == 60
    (section,) = summary["classes"]
    assert section["title"] == "Class 3 (Dress)" and section["n_inputs"] == 6
    # the counts agree: the summary's sentences, the table, the CSV, the figures
    with open(out / "class3_clusters.csv") as fh:
        rows = list(csv.DictReader(fh))
    for model, n in section["n_sis"].items():
        assert sum(int(r[f"count_{model}"]) for r in rows) == n
        assert any(line.startswith(f"{model}: {n:,} SIS on ") for line in section["summary"])
    assert sum(int(r["n_sis"]) for r in rows) == sum(section["n_sis"].values())
    assert [f"class3_cluster_{r['cluster']}.png" for r in rows] == [f for f in section["figures"] if "_cluster_" in f]
    report = (out / "report.html").read_text()
    assert "What it found" in report and "Caveat: fast-mode SIS" in report
    assert all(line.replace("'", "&#x27;") in report for line in section["summary"])
    seen = browser_check(out / "report.html")  # as a reader sees it, in a real browser
    assert seen["images"] and all(width > 0 for _, width in seen["images"]), seen["images"]
    assert sorted(src for src, _ in seen["images"]) == sorted(section["figures"])
    assert all(line in seen["text"] for line in section["summary"])


def test_the_summary_reports_inputs_without_sis_and_mixed_clusters():
    from blackbox_xai.analysis.report import summarize

    X = np.array([[0.9, 0.9, 0.1, 0.1], [0.8, 0.9, 0.2, 0.1], [0.0, 0.1, 0.0, 0.1]])

    def left(batch):
        return batch[:, :2].sum(axis=1)

    def both(batch):
        return batch[:, :2].sum(axis=1) + 0.01 * batch[:, 2:].sum(axis=1)

    with pytest.warns(Warning):
        result = compare_models({"A": left, "B": both}, X, SISExplainer(None, 1.0), eps=0.5, min_samples=2,
                                metric="jaccard")
    lines = summarize(result, caveats=["one toy"])
    assert lines[0].startswith("A: 2 SIS on 2 of 3 inputs, median size 2 features; none on 1 input "
                               "(it does not reach the threshold itself)")
    assert "1 cluster (and Misc); the largest, C1, holds 4 SIS (50% A, 50% B). 1 cluster mixes the models" in lines[2]
    assert lines[-1] == "Caveat: one toy"


def test_study_models_are_seeded_without_touching_the_global_rng(monkeypatch):
    import torch

    monkeypatch.syspath_prepend(EXAMPLES)
    from study_data import make_models, train

    X = np.random.default_rng(0).random((32, 1, 28, 28), dtype=np.float32)
    y = np.arange(32) % 10
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b = make_models(seed=1), make_models(seed=1)
    for net in (a["MLP"], b["MLP"]):
        train(net, X, y, epochs=1, seed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG as it was
    for p, q in zip(a["MLP"].parameters(), b["MLP"].parameters()):
        assert torch.equal(p, q)  # same seeds, same weights
    assert not torch.equal(make_models(seed=3)["CNN"][0].weight, a["CNN"][0].weight)


def test_compare_models_on_two_functions():
    X = np.random.default_rng(0).random((6, 10)) * 2

    def half(batch):  # reads only the first half of the features
        return l2(batch[:, :5]) * 1.5

    result = compare_models({"all": l2, "half": half}, X, SISExplainer(None, 1.0), eps=0.5, min_samples=2,
                            metric="jaccard")
    assert set(result.collections) == {"all", "half"} and len(result.collections["half"]) == 6
    for collection in result.collections["half"]:
        for sis in collection:
            assert sis.features.max() < 5  # its SIS never use what it does not read
    assert ("all", "half") in result.cross and "| all | half |" in result.cross_table()
    with pytest.raises(ValueError, match="two or more"):
        compare_models({"one": l2}, X, SISExplainer(None, 1.0), eps=0.5)


def test_plots_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")

    from blackbox_xai.plot import attribution_heatmap, cluster_montage, deletion_curves, sis_overlay

    x = np.random.default_rng(1).random((1, 8, 8))
    attribution = OcclusionExplainer(total, (2, 2)).explain(x)
    ax = attribution_heatmap(attribution, title="occlusion")
    image = ax.get_images()[-1]
    assert image.get_clim() == (-np.abs(attribution.values).max(), np.abs(attribution.values).max())
    sis_overlay(x, x > 0.5)
    fig = cluster_montage([x, x], [x > 0.5, x > 0.7], title="C1", labels=["a", "b"])
    fig.savefig(tmp_path / "m.png")
    assert os.path.getsize(tmp_path / "m.png") > 0
    deletion_curves({"occlusion": [1.0, 0.5, 0.2]})


def test_text_heatmap_html():
    from blackbox_xai.plot import text_heatmap_html

    def score(docs):
        return np.array([d.count("good") - d.count("bad") for d in docs], float)

    attribution = LimeExplainer(score, mode="text", n_samples=200, alpha=0.0, random_state=0).explain(
        "good <b>film</b>, bad end")
    page = text_heatmap_html(attribution)
    assert "rgba(220, 40, 40" in page and "rgba(40, 90, 220" in page  # red good, blue bad
    assert "&lt;" in page and "<b>" not in page  # the text is escaped
    with pytest.raises(ValueError, match="text attribution"):
        text_heatmap_html(OcclusionExplainer(total, 1).explain(np.ones(3)))
