"""Pixel-level metrics of anomaly localisation: pixel ROC-AUC and AUPRO.

Both compare anomaly maps (e.g. ``detector.anomaly_map(X)``) with binary
ground-truth masks of the defects, as in the MVTec AD benchmark
(Bergmann et al., "The MVTec Anomaly Detection Dataset", IJCV 2021):

- :func:`pixel_roc_auc` treats every pixel as a sample: ROC-AUC of the map
  values against the mask (``sklearn.metrics.roc_auc_score``). Large
  defects weigh more than small ones.
- :func:`aupro` weighs every defect region equally: the per-region overlap
  (PRO) is the mean, over the connected regions of the masks, of the
  fraction of each region's pixels above a threshold; AUPRO is the area
  under PRO as a function of the false-positive rate on normal pixels, up
  to ``max_fpr`` (0.3 in the paper), divided by ``max_fpr``.

Masks and maps are ``(n, H, W)`` arrays, or ``(n, C, H, W)`` ones: a
channel axis of a map is averaged (``anomaly_map`` gives one value per
channel), a mask's channel axis must have length 1. A single ``(H, W)``
mask and map are one image.
"""

from __future__ import annotations

import numpy as np

__all__ = ["aupro", "pixel_roc_auc"]


def _check_masks_maps(masks, maps) -> tuple[np.ndarray, np.ndarray]:
    """``(masks, maps)`` as a boolean and a float64 array of one shape ``(n, H, W)``."""
    masks = np.asarray(masks)
    maps = np.asarray(maps, dtype=np.float64)
    if masks.ndim == 4:
        if masks.shape[1] != 1:
            raise ValueError(f"masks must be (n, H, W) or (n, 1, H, W), got shape {masks.shape}")
        masks = masks[:, 0]
    if maps.ndim == 4:
        maps = maps.mean(axis=1)  # anomaly_map gives one residual per channel
    if masks.ndim == 2:  # a single image
        masks, maps = masks[None], maps[None] if maps.ndim == 2 else maps
    if masks.ndim != 3 or masks.shape != maps.shape:
        raise ValueError(
            f"masks and maps must have the same (n, H, W) shape, got {masks.shape} "
            f"and {maps.shape}"
        )
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps hold NaN or infinite values")
    values = np.unique(masks)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(
            f"masks must be binary (0/1 or bool), got values {values[:5].tolist()}; "
            "threshold them first, e.g. masks > 0"
        )
    masks = masks.astype(bool)
    if masks.all() or not masks.any():
        raise ValueError(
            "masks must hold both defect and normal pixels to measure localisation; "
            f"got {'only defect' if masks.any() else 'no defect'} pixels"
        )
    return masks, maps


def pixel_roc_auc(masks, maps) -> float:
    """ROC-AUC of anomaly-map values against ground-truth masks, pixel by pixel.

    Parameters
    ----------
    masks : array-like of shape (n, H, W) or (n, 1, H, W)
        Binary ground truth: ``1`` (or ``True``) on defect pixels. Normal
        images have all-zero masks.
    maps : array-like of shape (n, H, W) or (n, C, H, W)
        Anomaly maps, higher = more abnormal; channels are averaged.

    Returns
    -------
    score : float
        ``sklearn.metrics.roc_auc_score`` over all pixels of all images.

    Raises
    ------
    ValueError
        When the shapes differ, masks are not binary, the masks hold only
        defect or only normal pixels, or the maps hold NaN or infinity.

    See Also
    --------
    aupro : weighs every defect region equally, whatever its size.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.metrics import pixel_roc_auc
    >>> masks = np.zeros((1, 2, 2), dtype=int); masks[0, 0, 0] = 1
    >>> maps = np.array([[[0.9, 0.5], [0.1, 0.95]]])
    >>> round(pixel_roc_auc(masks, maps), 4)
    0.6667
    """
    from sklearn.metrics import roc_auc_score

    masks, maps = _check_masks_maps(masks, maps)
    return float(roc_auc_score(masks.ravel(), maps.ravel()))


def _pro_curve(masks: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False-positive rates and per-region overlaps at every distinct threshold.

    Sorting the pixels once by map value, descending, makes lowering the
    threshold past a pixel add ``1 / n_normal_pixels`` to the FPR (a normal
    pixel) or ``1 / (n_regions * region_size)`` to PRO (a defect pixel):
    both curves are cumulative sums (the MVTec AD evaluation code does so).
    """
    from scipy import ndimage

    # 8-connected regions within each image, never across images.
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    regions, n_regions = ndimage.label(masks, structure=structure)
    regions = regions.ravel()
    sizes = np.bincount(regions)  # sizes[0] counts the normal pixels
    steps = np.where(regions == 0, 0.0, 1.0 / (n_regions * sizes[regions]))
    false_positives = (regions == 0) / sizes[0]

    order = np.argsort(maps.ravel(), kind="stable")[::-1]
    values = maps.ravel()[order]
    fpr = np.cumsum(false_positives[order])
    pro = np.cumsum(steps[order])
    # Pixels of equal value pass the threshold together: one point per value.
    last_of_value = np.r_[values[1:] != values[:-1], True]
    fpr = np.r_[0.0, np.clip(fpr[last_of_value], 0.0, 1.0)]
    pro = np.r_[0.0, np.clip(pro[last_of_value], 0.0, 1.0)]
    return fpr, pro


def aupro(masks, maps, max_fpr=0.3) -> float:
    """Area under the per-region-overlap curve up to ``max_fpr``, normalised.

    For a threshold ``t``, the per-region overlap ``PRO(t)`` is the mean,
    over every connected defect region of every mask (8-connectivity,
    ``scipy.ndimage.label``), of the fraction of the region's pixels whose
    map value is ``>= t``; the false-positive rate ``FPR(t)`` is the
    fraction of normal pixels (of all images) with a value ``>= t``. AUPRO
    is the area under ``PRO`` as a function of ``FPR`` from 0 to
    ``max_fpr``, with the curve interpolated linearly at ``max_fpr``,
    divided by ``max_fpr``: 1 for a perfect map, about ``max_fpr / 2`` for
    a random one (Bergmann et al., MVTec AD, IJCV 2021).

    Parameters
    ----------
    masks : array-like of shape (n, H, W) or (n, 1, H, W)
        Binary ground truth: ``1`` (or ``True``) on defect pixels. Normal
        images have all-zero masks; their pixels count as normal pixels.
    maps : array-like of shape (n, H, W) or (n, C, H, W)
        Anomaly maps, higher = more abnormal; channels are averaged.
    max_fpr : float, default=0.3
        Integration limit on the false-positive rate, in (0, 1].

    Returns
    -------
    score : float
        In [0, 1].

    Raises
    ------
    ValueError
        When the shapes differ, masks are not binary, the masks hold only
        defect or only normal pixels, the maps hold NaN or infinity, or
        ``max_fpr`` is not in (0, 1].

    See Also
    --------
    pixel_roc_auc : every pixel weighs the same.

    Examples
    --------
    A map that finds the small defect but misses the large one (its pixels
    score below the normal ones): pixel ROC-AUC is low, because most defect
    pixels are missed, while AUPRO gives each region half the weight.

    >>> import numpy as np
    >>> from skanomaly.metrics import aupro, pixel_roc_auc
    >>> masks = np.zeros((2, 4, 4), dtype=bool)
    >>> masks[0, 0, 0] = True             # a one-pixel defect
    >>> masks[1, :2, :] = True            # an eight-pixel defect
    >>> maps = np.where(masks, 0.2, 0.3); maps[0, 0, 0] = 1.0
    >>> round(pixel_roc_auc(masks, maps), 3), round(aupro(masks, maps), 3)
    (0.111, 0.5)
    """
    from sklearn.metrics import auc

    if not (isinstance(max_fpr, (int, float, np.number)) and 0 < max_fpr <= 1):
        raise ValueError(f"max_fpr must be a number in (0, 1], got {max_fpr!r}")
    masks, maps = _check_masks_maps(masks, maps)
    fpr, pro = _pro_curve(masks, maps)
    # Keep the points up to max_fpr, and the curve's value at max_fpr itself.
    end = np.searchsorted(fpr, max_fpr, side="right")
    x, y = fpr[:end], pro[:end]
    if end < len(fpr) and x[-1] < max_fpr:
        fraction = (max_fpr - fpr[end - 1]) / (fpr[end] - fpr[end - 1])
        x = np.r_[x, max_fpr]
        y = np.r_[y, pro[end - 1] + fraction * (pro[end] - pro[end - 1])]
    return float(auc(x, y) / max_fpr)
