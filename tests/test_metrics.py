"""skanomaly.metrics: pixel ROC-AUC and AUPRO against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from skanomaly.metrics import aupro, pixel_roc_auc


def _reference_aupro(masks, maps, max_fpr):
    """The definition, threshold by threshold: slow, but plainly right."""
    regions = []  # (image index, boolean mask of one 8-connected region)
    for index, mask in enumerate(masks):
        labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
        regions += [(index, labels == k) for k in range(1, n + 1)]
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        fpr = np.mean(maps[~masks] >= t)
        pro = np.mean([np.mean(maps[index][region] >= t) for index, region in regions])
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        if x0 >= max_fpr:
            break
        if x1 > max_fpr:  # cut the segment at max_fpr
            y1 = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
            x1 = max_fpr
        area += (x1 - x0) * (y0 + y1) / 2
    return area / max_fpr


@pytest.fixture
def three_by_three():
    """One image, a 2-pixel region A and a 1-pixel region B, 6 normal pixels."""
    masks = np.array([[[1, 1, 0], [0, 0, 0], [0, 0, 1]]], dtype=bool)
    maps = np.array([[[0.9, 0.4, 0.8], [0.6, 0.3, 0.2], [0.1, 0.0, 0.7]]])
    return masks, maps


def test_aupro_hand_computed(three_by_three):
    # Lowering the threshold: 0.9 (A, PRO 1/4), 0.8 (normal, FPR 1/6),
    # 0.7 (B, PRO 3/4), 0.6 (normal, FPR 2/6), 0.4 (A, PRO 1), ...
    # Area to FPR 0.3: 1/6 * 1/4 + (0.3 - 1/6) * 3/4 = 0.141667.
    masks, maps = three_by_three
    assert aupro(masks, maps) == pytest.approx((1 / 24 + (0.3 - 1 / 6) * 3 / 4) / 0.3)
    # Whole curve: 1/6 * 1/4 + 1/6 * 3/4 + 2/3 * 1.
    assert aupro(masks, maps, max_fpr=1.0) == pytest.approx(5 / 6)
    # FPR 1/6 exactly: no interpolation needed.
    assert aupro(masks, maps, max_fpr=1 / 6) == pytest.approx(0.25)


def test_aupro_interpolates_inside_a_tied_step():
    # A 1-pixel region found (1.0); an 8-pixel region tied with all 23
    # normal pixels at 0. Curve (0, 0), (0, 1/2), (1, 1): at FPR 0.3 the
    # line gives PRO 0.65, so the area is 0.3 * (0.5 + 0.65) / 2.
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, 0, 0] = True
    masks[1, :2] = True
    maps = np.zeros((2, 4, 4))
    maps[0, 0, 0] = 1.0
    assert aupro(masks, maps) == pytest.approx(0.575)
    assert pixel_roc_auc(masks, maps) == pytest.approx(1 / 9 + 8 / 9 * 0.5)


def test_aupro_regions_are_8_connected():
    # A diagonal pair is one region (weights 1/4 each), not two (1/3 each).
    masks = np.zeros((1, 4, 4), dtype=bool)
    masks[0, 0, 0] = masks[0, 1, 1] = masks[0, 3, 3] = True
    maps = np.full((1, 4, 4), 0.5)
    maps[0, 0, 0], maps[0, 1, 1], maps[0, 3, 3] = 1.0, 0.0, 0.0
    assert aupro(masks, maps, max_fpr=1.0) == pytest.approx(0.25)


def test_regions_do_not_join_across_images():
    # The same pixel defective in two images: two regions, one found.
    masks = np.zeros((2, 3, 3), dtype=bool)
    masks[:, 1, 1] = True
    maps = np.full((2, 3, 3), 0.5)
    maps[0, 1, 1], maps[1, 1, 1] = 1.0, 0.0
    assert aupro(masks, maps, max_fpr=1.0) == pytest.approx(0.5)


def test_perfect_inverted_and_constant_maps():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 8, 8)) < 0.2
    perfect = masks + 0.1 * rng.random(masks.shape)
    assert aupro(masks, perfect) == pytest.approx(1.0)
    assert pixel_roc_auc(masks, perfect) == pytest.approx(1.0)
    assert aupro(masks, -perfect) == pytest.approx(0.0)
    assert pixel_roc_auc(masks, -perfect) == pytest.approx(0.0)
    # All pixels tied: one step from (0, 0) to (1, 1), the diagonal.
    assert aupro(masks, np.zeros(masks.shape)) == pytest.approx(0.15)
    assert pixel_roc_auc(masks, np.zeros(masks.shape)) == pytest.approx(0.5)


@pytest.mark.parametrize("max_fpr", [0.05, 0.3, 1.0])
def test_aupro_matches_the_threshold_by_threshold_definition(max_fpr):
    rng = np.random.default_rng(1)
    masks = np.zeros((4, 10, 10), dtype=bool)
    masks[0, 2:5, 2:6] = masks[1, 7:, 0] = masks[1, 1, 1] = masks[3, 4:7, 4:7] = True
    # Rounded values make ties, as real maps (and uint8 pictures) have.
    maps = np.round(rng.random(masks.shape) + 0.4 * masks, 1)
    expected = _reference_aupro(masks, maps, max_fpr)
    assert aupro(masks, maps, max_fpr=max_fpr) == pytest.approx(expected, abs=1e-12)
    assert pixel_roc_auc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))


def test_invariant_to_monotonic_rescaling(three_by_three):
    masks, maps = three_by_three
    assert aupro(masks, 10 * maps**3 + 2) == pytest.approx(aupro(masks, maps))


def test_channels_of_maps_are_averaged_and_masks_may_have_one():
    rng = np.random.default_rng(2)
    masks = rng.random((2, 6, 6)) < 0.3
    maps = rng.random((2, 3, 6, 6))
    for metric in (aupro, pixel_roc_auc):
        assert metric(masks[:, None], maps) == pytest.approx(metric(masks, maps.mean(axis=1)))
    # masks of 0/255 read from PNG files, once thresholded
    assert aupro((masks * 255) > 0, maps) == pytest.approx(aupro(masks, maps))


@pytest.mark.parametrize("metric", [aupro, pixel_roc_auc])
def test_bad_input_is_refused_in_one_line(metric):
    masks = np.zeros((2, 4, 4), dtype=int)
    masks[0, 0, 0] = 1
    maps = np.zeros((2, 4, 4))
    with pytest.raises(ValueError, match="same .* shape"):
        metric(masks, maps[:, :3])
    with pytest.raises(ValueError, match="binary"):
        metric(masks * 255, maps)
    with pytest.raises(ValueError, match="no defect pixels"):
        metric(np.zeros_like(masks), maps)
    with pytest.raises(ValueError, match="only defect pixels"):
        metric(np.ones_like(masks), maps)
    with pytest.raises(ValueError, match="NaN"):
        metric(masks, np.full(maps.shape, np.nan))
    with pytest.raises(ValueError, match=r"\(n, 1, H, W\)"):
        metric(np.zeros((2, 3, 4, 4)), maps)


@pytest.mark.parametrize("max_fpr", [0, -0.1, 1.5, "0.3", None])
def test_aupro_max_fpr_range(max_fpr, three_by_three):
    with pytest.raises(ValueError, match="max_fpr"):
        aupro(*three_by_three, max_fpr=max_fpr)
