"""The CNN-vs-MLP study end to end (small), compare_models, and the plots."""
import os
import re
import runpy
import sys

import numpy as np
import pytest

from blackbox_xai import LimeExplainer, OcclusionExplainer, SISExplainer
from blackbox_xai.analysis import compare_models
from helpers import l2, total

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
    for name in ("digit4_clusters.csv", "digit4_clusters.md", "settings.json"):
        assert (tmp_path / name).is_file()


def test_study_models_are_seeded_without_touching_the_global_rng(monkeypatch):
    import torch

    monkeypatch.syspath_prepend(EXAMPLES)
    from digits_study import make_models, train

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
