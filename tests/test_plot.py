"""skanomaly.plot: grids, overlays, histograms and loss curves."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skanomaly import GANomalyDetector
from skanomaly.plot import (
    MASK_COLOUR,
    anomaly_heatmaps,
    anomaly_overlay,
    colour_scale_figure,
    heatmap_pictures,
    plot_history,
    plot_reconstructions,
    plot_score_histogram,
    reconstruction_grid,
)


@pytest.fixture(scope="module")
def image_detector():
    X = np.random.default_rng(0).uniform(0, 16, size=(24, 1, 8, 10))  # digits-like range
    detector = GANomalyDetector(n_epochs=2, n_filters=4, batch_size=8, random_state=0)
    return detector.fit(X), X


def test_overlay_leaves_cool_regions_as_the_image():
    images = np.full((2, 1, 6, 6), 0.3)
    maps = np.zeros((2, 1, 6, 6))
    maps[1, 0, 1, 2] = 2.0
    overlay = anomaly_overlay(images, maps, vmax=1.0, alpha=0.5)
    assert overlay.shape == (2, 3, 6, 6)
    np.testing.assert_allclose(overlay[0], 0.3)  # no anomaly: grey image in RGB
    np.testing.assert_allclose(np.delete(overlay[1].reshape(3, -1), 8, axis=1), 0.3)
    assert not np.allclose(overlay[1, :, 1, 2], 0.3)  # the hot pixel is coloured
    assert overlay.min() >= 0 and overlay.max() <= 1


def test_overlay_shares_one_scale_across_images():
    images = np.zeros((2, 3, 4, 4))
    maps = np.ones((2, 4, 4))
    maps[0] *= 0.1  # a weak map must stay cooler than a strong one
    overlay = anomaly_overlay(images, maps)
    assert overlay[0].sum() < overlay[1].sum()


def test_reconstruction_grid_layout_and_png(image_detector, tmp_path):
    detector, X = image_detector
    path = tmp_path / "grid.png"
    grid = reconstruction_grid(detector, X[:5], path, upscale=2)
    # 3 rows of 5 images 16x20 (8x10 upscaled), make_grid padding 2
    assert grid.shape == (3, 3 * 18 + 2, 5 * 22 + 2)
    assert grid.min() >= 0 and grid.max() <= 1
    with Image.open(path) as image:
        assert image.size == (5 * 22 + 2, 3 * 18 + 2)
    # the first row shows the inputs, scaled from the training range to [0, 1]
    first = grid[0, 2:18:2, 2:22:2]
    np.testing.assert_allclose(first, (X[0, 0] - X.min()) / np.ptp(X), atol=1e-6)


def test_reconstruction_grid_default_upscale(image_detector):
    detector, X = image_detector
    assert reconstruction_grid(detector, X[:1]).shape[1] >= 3 * 64


def test_plot_reconstructions(image_detector, tmp_path):
    detector, X = image_detector
    fig = plot_reconstructions(detector, X[:4], titles=list("abcd"))
    assert len(fig.axes) == 13  # 3 rows of 4, and the colour bar
    assert [ax.get_title() for ax in fig.axes[:4]] == list("abcd")
    assert fig.axes[4].get_ylabel() == "reconstruction"
    fig.savefig(tmp_path / "fig.png")
    default = plot_reconstructions(detector, X[:2])
    expected = -detector.score_samples(X[:2])
    assert [float(ax.get_title()) for ax in default.axes[:2]] == pytest.approx(expected, rel=1e-2)


def test_plots_refuse_tabular_detectors(fitted_tabular, blobs):
    detector = fitted_tabular[GANomalyDetector]
    with pytest.raises(ValueError, match="tabular"):
        reconstruction_grid(detector, blobs[0][:20])


def test_score_histogram_by_class():
    scores = np.r_[np.zeros(5), np.ones(3)]
    fig = plot_score_histogram(scores, [0] * 5 + [1] * 3, threshold=0.5, bins=4)
    ax = fig.axes[0]
    heights = [sum(p.get_height() for p in container) for container in ax.containers]
    assert heights == [5, 3]
    assert ax.lines[0].get_xdata()[0] == 0.5
    single = plot_score_histogram(scores)
    assert sum(p.get_height() for p in single.axes[0].containers[0]) == 8


def test_plot_history(image_detector):
    detector, _ = image_detector
    fig = plot_history(detector)
    assert [ax.get_title() for ax in fig.axes] == list(detector.history_)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), detector.history_["loss_d"])
    with pytest.raises(ValueError, match="no losses"):
        plot_history({})


def _is_outline(pictures):
    """Pixels painted in the outline colour, (n, H, W)."""
    return np.all(pictures == np.reshape(MASK_COLOUR, (1, 3, 1, 1)), axis=1)


def test_heatmaps_outline_the_mask_edge_only():
    images = np.full((2, 1, 8, 8), 0.5)
    maps = np.zeros((2, 8, 8))
    masks = np.zeros((2, 8, 8), dtype=bool)
    masks[0, 2:5, 3:7] = True  # a 3x4 defect in the first image only
    pictures = heatmap_pictures(images, maps, masks, upscale=3)
    assert pictures.shape == (2, 3, 24, 24)
    outline = _is_outline(pictures)
    assert not outline[1].any()  # no mask, no outline
    big = masks[0].repeat(3, 0).repeat(3, 1)
    assert not (outline[0] & ~big).any()  # drawn on the defect's own pixels
    assert outline[0, 6, 9:21].all() and outline[0, 6:15, 9].all()  # its top and left edges
    assert not outline[0, 7:14, 10:20].any()  # the inside stays visible
    # Without masks: the plain overlay, enlarged.
    plain = heatmap_pictures(images, maps, upscale=1)
    np.testing.assert_allclose(plain, anomaly_overlay(images, maps))
    assert heatmap_pictures(images, maps).shape[-1] == 64  # at least 64 pixels high
    with pytest.raises(ValueError, match="masks must be"):
        heatmap_pictures(images, maps, masks[:, :4])


def test_pictures_of_a_detector_show_mask_outlines(image_detector):
    detector, X = image_detector
    masks = np.zeros((3, 8, 10), dtype=bool)
    masks[1, 2:4, 2:4] = True
    grid = reconstruction_grid(detector, X[:3], upscale=2, masks=masks)
    outline = _is_outline(grid[None])[0]
    assert outline.sum() == 12  # the 4x4 edge of the enlarged 2x2 defect
    assert not _is_outline(reconstruction_grid(detector, X[:3], upscale=2)[None]).any()
    fig = plot_reconstructions(detector, X[:3], masks=masks)
    # One contour, on the anomaly-map row of the second column (the colour bar is last).
    contoured = [i for i, ax in enumerate(fig.axes[:-1]) if ax.collections]
    assert contoured == [2 * 3 + 1]


@pytest.mark.parametrize("shape", [(3, 1, 9, 9), (3, 81), (3, 2, 8, 10), (3, 8, 9)])
def test_pictures_refuse_images_of_the_wrong_size(image_detector, shape):
    detector, _ = image_detector
    X = np.zeros(shape)
    for draw in (plot_reconstructions, reconstruction_grid):
        with pytest.raises(ValueError, match="do not match the GANomalyDetector"):
            draw(detector, X)


def test_pictures_take_every_layout_of_the_right_size(image_detector):
    detector, X = image_detector
    for images in (X[:2], X[:2, 0], X[:2].reshape(2, -1)):
        assert len(plot_reconstructions(detector, images).axes) == 7


def test_score_histogram_refuses_labels_it_would_drop():
    with pytest.raises(ValueError, match=r"got \[-1\].*pass y == -1"):
        plot_score_histogram([0.1, 0.2, 0.9], [0, -1, 1])
    with pytest.raises(ValueError, match="shape"):
        plot_score_histogram([0.1, 0.2, 0.9], [0, 1])
    fig = plot_score_histogram([0.1, 0.2, 0.9], np.array([1, 1, -1]) == -1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["normal (2)", "anomaly (1)"]


# ----------------------------------------------------------------------
# Heat-map figures: a colour bar that says which way is anomalous
# ----------------------------------------------------------------------
def _colour_bars(fig):
    """The colour bars of a figure: axes that matplotlib made for a colorbar."""
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _says_higher_is_anomalous(bar_ax):
    label = bar_ax.get_ylabel() or bar_ax.get_xlabel()
    return "higher = more anomalous" in label


def test_anomaly_heatmaps_is_a_figure_with_a_colour_bar():
    from matplotlib.figure import Figure

    images = np.full((5, 1, 8, 8), 0.5)
    maps = np.zeros((5, 8, 8))
    maps[2, 3:5, 3:5] = 4.0
    masks = np.zeros((5, 8, 8), dtype=bool)
    masks[2, 3:5, 3:5] = True
    fig = anomaly_heatmaps(images, maps, masks, titles=list("abcde"), n_cols=3, vmax=2.0)
    assert isinstance(fig, Figure)
    (bar,) = _colour_bars(fig)
    assert _says_higher_is_anomalous(bar)
    assert bar._colorbar.norm.vmin == 0 and bar._colorbar.norm.vmax == 2.0
    panels = [ax for ax in fig.axes if ax is not bar and ax.images]
    assert [ax.get_title() for ax in panels] == list("abcde")  # 2 rows of 3, one left empty
    # The panels show the overlay; the defect's outline is drawn on its panel only.
    np.testing.assert_allclose(
        panels[2].images[0].get_array(),
        np.moveaxis(anomaly_overlay(images, maps, vmax=2.0)[2], 0, -1),
    )
    assert [i for i, ax in enumerate(panels) if ax.collections] == [2]
    fig.savefig(__import__("io").BytesIO(), format="png")  # it draws


def test_every_heat_map_figure_says_which_way_is_anomalous(image_detector):
    detector, X = image_detector
    figures = {
        "anomaly_heatmaps": anomaly_heatmaps(X[:2] / 16, detector.anomaly_map(X[:2])),
        "plot_reconstructions": plot_reconstructions(detector, X[:2]),
        "colour_scale_figure": colour_scale_figure(0.3),
    }
    for name, fig in figures.items():
        bars = _colour_bars(fig)
        assert len(bars) == 1, name
        assert _says_higher_is_anomalous(bars[0]), name


def test_plot_reconstructions_colour_bar_matches_the_overlays(image_detector):
    detector, X = image_detector
    fig = plot_reconstructions(detector, X[:3], vmax=0.25)
    (bar,) = _colour_bars(fig)
    assert bar._colorbar.norm.vmax == 0.25
    assert bar._colorbar.cmap.name == "jet"
