"""Plots: what they draw, not only that they run."""
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from blackbox_xai import OcclusionExplainer, SISExplainer  # noqa: E402
from blackbox_xai.plot import attribution_heatmap, sis_overlay  # noqa: E402


def test_sis_overlay_draws_a_flat_digit_as_an_image(digits_mlp):
    clf, X, _ = digits_mlp
    sis = SISExplainer(clf, 0.9, mode="fast").explain(X[0])
    ax = sis_overlay(X[0], sis[0], image_shape=(8, 8), title="SIS 0")
    grey, overlay = ax.get_images()
    assert grey.get_array().shape == (8, 8)
    drawn = ~np.ma.getmaskarray(overlay.get_array())
    np.testing.assert_array_equal(drawn, sis[0].mask.reshape(8, 8))
    with pytest.raises(ValueError, match=r"x is flat \(64 values\): pass image_shape="):
        sis_overlay(X[0], sis[0].mask)
    with pytest.raises(ValueError, match=r"image_shape=\(7, 7\) holds 49"):
        sis_overlay(X[0], sis[0].mask, image_shape=(7, 7))


def test_heatmap_of_a_flat_attribution():
    x = np.arange(16.0)
    attribution = OcclusionExplainer(lambda b: b.sum(axis=1), 2, strides=2).explain(x)
    ax = attribution_heatmap(attribution, image_shape=(4, 4))
    heat = ax.get_images()[-1].get_array()
    np.testing.assert_allclose(heat, attribution.values.reshape(4, 4))
