"""Region perturbation / AOPC and word deletion (analysis/metrics.py)."""
import numpy as np
import pytest

from blackbox_xai import OcclusionExplainer
from blackbox_xai.analysis.metrics import perturbation_summary, region_perturbation, relevance_map, word_deletion


def corner(batch):
    """Mean of the top-left 9x9 tile: the only part of a 27x27 image the model reads."""
    return batch[:, :9, :9].mean(axis=(1, 2))


def test_morf_destroys_what_the_model_reads_first():
    x = np.ones((27, 27))
    truth = np.zeros((27, 27))
    truth[:9, :9] = 1
    calls = []
    model = lambda b: (calls.append(len(b)), corner(b))[1]  # noqa: E731
    morf = region_perturbation(model, x, truth, region=9, steps=5, noise=(0, 1), random_state=0)
    assert calls == [6] and len(morf.scores) == 6 and morf.scores[0] == 1.0
    assert morf.units[0] == (0, 0) and np.all(morf.scores[1:] < 0.7)  # uniform noise: mean ~0.5
    lerf = region_perturbation(corner, x, truth, region=9, steps=5, order="lerf", random_state=0)
    np.testing.assert_array_equal(lerf.scores, 1.0)  # the read tile is never reached
    assert lerf.aopc == 0 and morf.aopc > 0.35
    aopc_random = [region_perturbation(corner, x, truth, region=9, steps=5, order="random",
                                       random_state=s).aopc for s in range(20)]
    assert morf.aopc > max(aopc_random) - 1e-12 and np.mean(aopc_random) < morf.aopc / 1.5


def test_any_explanation_becomes_a_relevance_map():
    x = np.ones((27, 27))
    occlusion = OcclusionExplainer(corner, window=(9, 9), strides=(9, 9)).explain(x)
    assert relevance_map(occlusion)[:9, :9].min() > relevance_map(occlusion)[9:, 9:].max()
    curve = region_perturbation(corner, x, occlusion, region=9, steps=3, random_state=0)
    assert curve.units[0] == (0, 0)
    from blackbox_xai import SISExplainer

    sis = SISExplainer(lambda b: b.reshape(len(b), -1)[:, :2].sum(1), threshold=1.5).explain(np.ones((2, 2)))
    ranks = relevance_map(sis[0], shape=(2, 2))
    assert set(ranks[0]) == {3, 4}  # the two features the model reads are removed last
    with pytest.raises(ValueError, match="order must be one of"):
        region_perturbation(corner, x, occlusion, order="best")
    with pytest.raises(ValueError, match="does not cover"):
        region_perturbation(corner, x, np.ones((5, 5)))


def test_word_deletion_with_lrp_tokens():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from blackbox_xai.lrp import LRP

    docs = ["rocket orbit launch", "goal match team", "rocket moon orbit", "team cup goal"] * 5
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 5)
    doc = "the rocket left orbit before the match"
    result = LRP(pipe).explain(doc, target=1)
    morf = word_deletion(pipe, doc, result, target=1)
    assert len(morf.scores) == len(result.info["tokens"][0]) + 1
    assert morf.units[0] in [(4, 10), (16, 21)]  # "rocket" or "orbit" first
    assert morf.scores[1] < morf.scores[0]
    lerf = word_deletion(pipe, doc, result, target=1, order="lerf")
    assert morf.aopc > lerf.aopc
    spans = [(t["start"], t["end"], t["relevance"]) for t in result.info["tokens"][0]]
    np.testing.assert_array_equal(word_deletion(pipe, doc, spans, target=1).scores, morf.scores)


def test_perturbation_summary_scores_three_orders():
    x = np.ones((27, 27))
    truth = np.zeros((27, 27))
    truth[:9, :9] = 1
    summary = perturbation_summary(corner, x, truth, region=9, steps=5, n_random=4, noise=(0, 1), random_state=0)
    assert len(summary.random) == 4 and summary.morf.order == "morf" and summary.lerf.aopc == 0
    aopc = summary.aopc
    assert aopc["morf"] > aopc["random"] > aopc["lerf"]
    again = perturbation_summary(corner, x, truth, region=9, steps=5, n_random=4, noise=(0, 1), random_state=0)
    assert again.aopc == aopc  # seeded
