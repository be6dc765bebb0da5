"""Pictures of a fitted detector: reconstructions, anomaly maps, scores, losses.

Image grids are tiled with ``torchvision.utils.make_grid`` and written with
``save_image``; the other plots are matplotlib ``Figure`` objects, built
without ``pyplot`` so they need no display and leave pyplot's state alone
(save them with ``fig.savefig(path)``).

Anomaly maps are drawn as a heat map over the input, on one colour scale
for all the images of a picture, so that hot means the same everywhere;
every figure with heat maps has a colour bar that says which way is
anomalous (higher = more anomalous). Where ground-truth masks are given,
the outline of each defect is drawn over the heat map in magenta, a colour
neither the heat map nor a grey image uses.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._docstring import filler

__all__ = [
    "MASK_COLOUR",
    "anomaly_heatmaps",
    "anomaly_overlay",
    "colour_scale_figure",
    "heatmap_pictures",
    "plot_history",
    "plot_reconstructions",
    "plot_score_histogram",
    "reconstruction_grid",
]

# The colour map of every heat map, and the direction its colour bars state.
HEAT_CMAP = "jet"
HIGHER_IS_ANOMALOUS = "higher = more anomalous"

# Parameter entries shared by several docstrings, as ``%(name)s`` placeholders
# there, filled by ``_fill_doc`` (as the detectors share theirs).
_DOC = {
    "images_maps": """images : array-like of shape (n, C, H, W)
        Images with values in [0, 1]; ``C`` is 1 or 3.
    maps : array-like of shape (n, C, H, W) or (n, H, W)
        Non-negative anomaly maps (e.g. ``detector.anomaly_map``); channels
        are averaged.""",
    "masks": """masks : array-like of shape (n, H, W), default=None
        Ground truth, non-zero on defects (``load_image_folder(...,
        return_masks=True).masks``).""",
    "vmax": """vmax : float, default=None
        Map value drawn at full heat; ``None`` = the 99th percentile of all
        ``maps``, one scale for every image.""",
    "alpha": """alpha : float, default=0.6
        Opacity of the hottest colour; cool regions show the image.""",
    "upscale": """upscale : int, default=None
        Pixel repetition factor; ``None`` makes each image at least 64
        pixels high, so that small images stay visible.""",
    "detector_X": """detector : fitted skanomaly detector
        Fitted on images.
    X : array-like of shape (n, C, H, W), (n, H, W) or (n, C*H*W)
        Images, in the units used for ``fit``.""",
    "masks_of_X": """masks : array-like of shape (n, H, W), default=None
        Ground-truth defect masks of ``X``, outlined on the anomaly maps.""",
}


_fill_doc = filler(_DOC)


def _images_of(detector, X) -> np.ndarray:
    """``X`` as ``(n, C, H, W)`` float images, for a detector fitted on images."""
    check_is_fitted(detector)
    shape = getattr(detector, "image_shape_", None)
    if shape is None:
        raise ValueError(f"{type(detector).__name__} was fitted on tabular data, not images")
    X = np.asarray(X, dtype=np.float64)
    # Only the layouts the detector takes: reshaping anything else into tiles
    # of the right size would draw garbage.
    accepted = [tuple(shape), (math.prod(shape),)] + ([tuple(shape[1:])] if shape[0] == 1 else [])
    if X.ndim < 2 or X.shape[1:] not in accepted:
        raise ValueError(
            f"images of shape {X.shape[1:]} do not match the {type(detector).__name__}, "
            f"fitted on images of shape (C, H, W) = {tuple(shape)}"
        )
    return X.reshape(-1, *shape)


def _unit_range(detector, images: np.ndarray) -> np.ndarray:
    """Map images from the training range (``shift_ +- scale_``) to [0, 1]."""
    low = detector.shift_[0] - detector.scale_[0]
    return np.clip((images - low) / (2 * detector.scale_[0]), 0.0, 1.0)


def _heat_scale(maps, vmax) -> float:
    """The map value drawn at full heat: ``vmax``, else the 99th percentile of ``maps``."""
    return float(np.percentile(maps, 99)) if vmax is None else float(vmax)


@_fill_doc
def anomaly_overlay(images, maps, *, vmax=None, alpha=0.6, cmap=HEAT_CMAP):
    """Blend anomaly maps as a heat map over images.

    Parameters
    ----------
    %(images_maps)s
    %(vmax)s
    %(alpha)s
    cmap : str, default="jet"
        Matplotlib colour map.

    Returns
    -------
    overlay : ndarray of shape (n, 3, H, W), values in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.plot import anomaly_overlay
    >>> images = np.zeros((2, 1, 8, 8))
    >>> maps = np.zeros((2, 1, 8, 8)); maps[1, 0, 2:4, 2:4] = 1.0
    >>> overlay = anomaly_overlay(images, maps)
    >>> overlay.shape, float(overlay[0].max()), bool(overlay[1].max() > 0)
    ((2, 3, 8, 8), 0.0, True)
    """
    from matplotlib import colormaps

    images = np.asarray(images, dtype=np.float64)
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 4:
        maps = maps.mean(axis=1)
    vmax = _heat_scale(maps, vmax)
    heat = np.clip(maps / vmax, 0.0, 1.0) if vmax > 0 else np.zeros_like(maps)
    colours = colormaps[cmap](heat)[..., :3]  # (n, H, W, 3)
    colours = np.moveaxis(colours, -1, 1)
    rgb = np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images
    weight = alpha * heat[:, None]
    return (1.0 - weight) * rgb + weight * colours


#: Colour of ground-truth outlines, RGB in [0, 1] (magenta): absent from the
#: heat maps' colour map and from grey images.
MASK_COLOUR = (1.0, 0.0, 1.0)


def _masks_for(masks, images: np.ndarray) -> np.ndarray | None:
    """``masks`` as a bool ``(n, H, W)`` array matching ``images`` ``(n, C, H, W)``."""
    if masks is None:
        return None
    masks = np.asarray(masks)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.shape != (len(images), *images.shape[-2:]):
        raise ValueError(
            f"masks must be (n, H, W) with the images' n, H and W, got {masks.shape} for "
            f"images of shape {images.shape}"
        )
    return masks != 0


def _upscale(array: np.ndarray, factor: int) -> np.ndarray:
    """Repeat each pixel ``factor`` times along the last two axes."""
    return array.repeat(factor, axis=-2).repeat(factor, axis=-1)


def _paint_outlines(pictures: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Draw the one-pixel outline of each mask (inner boundary) on RGB ``pictures``."""
    from scipy import ndimage

    # Erode within each image only: the structure does not reach across images.
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    outline = masks & ~ndimage.binary_erosion(masks, structure, border_value=0)
    pictures = pictures.copy()
    for channel, value in enumerate(MASK_COLOUR):
        pictures[:, channel][outline] = value
    return pictures


def _default_upscale(height: int) -> int:
    # Small images (8x8, 28x28) are enlarged to at least 64 pixels high, so
    # that they, and a one-pixel outline around a defect, stay visible.
    return max(1, math.ceil(64 / height))


@_fill_doc
def heatmap_pictures(images, maps, masks=None, *, vmax=None, upscale=None, alpha=0.6):
    """Heat-map pictures of anomaly maps over their images, with mask outlines, as arrays.

    One RGB picture per image, to write as a file (the command line's
    ``score --maps``): :func:`anomaly_overlay` enlarged by pixel
    repetition, and, where ``masks`` are given, each defect's outline drawn
    over it in magenta (``MASK_COLOUR``). The outline runs along the
    defect's own edge pixels at the enlarged size, so it hides little of it.
    The pictures carry no colour bar: draw them with
    :func:`anomaly_heatmaps` for a figure, or give them the key of
    :func:`colour_scale_figure` with the same ``vmax``.

    Parameters
    ----------
    %(images_maps)s
    %(masks)s
    %(vmax)s
    %(upscale)s
    %(alpha)s

    Returns
    -------
    pictures : ndarray of shape (n, 3, H * upscale, W * upscale), values in [0, 1]
        Write one with ``torchvision.utils.save_image``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.plot import MASK_COLOUR, heatmap_pictures
    >>> images = np.zeros((1, 1, 8, 8)); maps = np.zeros((1, 1, 8, 8))
    >>> masks = np.zeros((1, 8, 8), dtype=bool); masks[0, 2:6, 2:6] = True
    >>> pictures = heatmap_pictures(images, maps, masks, upscale=2)
    >>> pictures.shape
    (1, 3, 16, 16)
    >>> tuple(pictures[0, :, 4, 4]) == MASK_COLOUR, float(pictures[0, :, 8, 8].max())
    (True, 0.0)
    """
    images = np.asarray(images, dtype=np.float64)
    masks = _masks_for(masks, images)
    return _enlarged(anomaly_overlay(images, maps, vmax=vmax, alpha=alpha), masks, upscale)


def _enlarged(pictures, masks, upscale):
    """``pictures`` enlarged ``upscale`` times (None: by size), ``masks`` outlined on them."""
    upscale = _default_upscale(pictures.shape[-2]) if upscale is None else int(upscale)
    if upscale < 1:
        raise ValueError(f"upscale must be a positive integer, got {upscale}")
    pictures = _upscale(pictures, upscale)
    if masks is not None:
        pictures = _paint_outlines(pictures, _upscale(masks, upscale))
    return pictures


def _add_colour_bar(fig, axes, vmax, label, *, cax=False):
    """A colour bar under ``axes`` (or in it, with ``cax``): the heat maps' scale from 0 to
    ``vmax``, labelled with what the values are and which way is anomalous."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(norm=Normalize(0.0, vmax if vmax > 0 else 1.0), cmap=HEAT_CMAP)
    # Horizontal, under the maps: a long label fits, whatever the number of rows.
    where = {"cax": axes} if cax else {"ax": axes, "location": "bottom", "shrink": 0.6}
    return fig.colorbar(
        mappable, orientation="horizontal", label=f"{label}\n({HIGHER_IS_ANOMALOUS})", **where
    )


def colour_scale_figure(vmax, *, label="anomaly map"):
    """A colour bar alone: the key to heat-map pictures drawn on one scale.

    For pictures written as files without a key (:func:`heatmap_pictures`,
    ``skanomaly score --maps``): it shows which colour each map value from 0
    to ``vmax`` gets, and that higher is more anomalous.

    Parameters
    ----------
    vmax : float
        The map value drawn at full heat, as given to (or chosen by)
        :func:`heatmap_pictures`.
    label : str, default="anomaly map"
        What the values are.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes: the colour bar.

    Examples
    --------
    >>> from skanomaly.plot import colour_scale_figure
    >>> fig = colour_scale_figure(0.5, label="|x - reconstruction|")
    >>> fig.axes[0].get_xlabel().splitlines()
    ['|x - reconstruction|', '(higher = more anomalous)']
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 1.5), layout="constrained")
    _add_colour_bar(fig, fig.subplots(), float(vmax), label, cax=True)
    return fig


@_fill_doc
def anomaly_heatmaps(
    images,
    maps,
    masks=None,
    *,
    titles: list[str] | None = None,
    vmax: float | None = None,
    alpha: float = 0.6,
    n_cols: int | None = None,
    label: str = "anomaly map",
    figsize: tuple[float, float] | None = None,
):
    """Figure of anomaly maps as heat maps over their images, with a colour bar.

    One panel per image (:func:`anomaly_overlay`: the image shows where the
    map is cool), all on one colour scale, explained by a colour bar that
    says which way is anomalous; where ``masks`` are given, the outline of
    each ground-truth defect is drawn in magenta (``MASK_COLOUR``). For the
    pictures as arrays, e.g. to write one file per image, see
    :func:`heatmap_pictures`.

    Parameters
    ----------
    %(images_maps)s
    %(masks)s
    titles : list of str, default=None
        One title per panel (e.g. the anomaly score).
    %(vmax)s
    %(alpha)s
    n_cols : int, default=None
        Panels per row; ``None`` = up to 8.
    label : str, default="anomaly map"
        What the map values are, for the colour bar.
    figsize : (float, float), default=None
        ``None`` = 1.3 inches per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Its axes are the panels, row by row, then the colour bar.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.plot import anomaly_heatmaps
    >>> images = np.zeros((3, 1, 8, 8)); maps = np.zeros((3, 1, 8, 8))
    >>> maps[1, 0, 2:4, 2:4] = 1.0
    >>> fig = anomaly_heatmaps(images, maps, titles=["a", "b", "c"])
    >>> len(fig.axes), fig.axes[-1].get_xlabel().splitlines()
    (4, ['anomaly map', '(higher = more anomalous)'])
    """
    from matplotlib.figure import Figure

    images = np.asarray(images, dtype=np.float64)
    maps = np.asarray(maps, dtype=np.float64)
    masks = _masks_for(masks, images)
    vmax = _heat_scale(maps.mean(axis=1) if maps.ndim == 4 else maps, vmax)
    overlays = anomaly_overlay(images, maps, vmax=vmax, alpha=alpha)
    n = len(images)
    n_cols = min(n, 8) if n_cols is None else int(n_cols)
    if n < 1 or n_cols < 1:
        raise ValueError(f"need at least one image and one column, got {n} and {n_cols}")
    n_rows = math.ceil(n / n_cols)
    fig = Figure(figsize=figsize or (1.3 * n_cols + 1.4, 1.4 * n_rows + 0.3), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_axis_off()
        if i >= n:
            continue
        ax.imshow(np.moveaxis(overlays[i], 0, -1), interpolation="nearest")
        if masks is not None and masks[i].any():
            ax.contour(masks[i], levels=[0.5], colors=[MASK_COLOUR], linewidths=1.0)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
    _add_colour_bar(fig, axes, vmax, label)
    return fig


def _rows(detector, X, vmax):
    """Inputs and reconstructions in [0, 1], the overlays, and the maps' full-heat value."""
    images = _images_of(detector, X)
    inputs = _unit_range(detector, images)
    reconstruction = detector.reconstruct(images)
    recons = _unit_range(detector, reconstruction)
    # anomaly_map is |x - reconstruct(x)|: reuse the reconstruction rather than
    # computing it again (for AnoGAN that is a second latent search).
    maps = np.abs(images - reconstruction) / (2 * detector.scale_[0])  # in units of the range
    vmax = _heat_scale(maps.mean(axis=1), vmax)
    return inputs, recons, anomaly_overlay(inputs, maps, vmax=vmax), vmax


@_fill_doc
def reconstruction_grid(detector, X, path=None, *, vmax=None, upscale=None, masks=None):
    """A grid of inputs, reconstructions and anomaly-map overlays.

    Three rows (``torchvision.utils.make_grid``): the images ``X``, the
    detector's reconstructions, and the anomaly maps over the inputs, with
    the outlines of ``masks`` when given (see :func:`heatmap_pictures`).

    Parameters
    ----------
    %(detector_X)s
    path : str or path-like, default=None
        Also write the grid there as a PNG (``torchvision.utils.save_image``).
    vmax : float, default=None
        Anomaly-map value at full heat, as a fraction of the training range;
        see :func:`anomaly_overlay`.
    %(upscale)s
    %(masks_of_X)s

    Returns
    -------
    grid : ndarray of shape (3, H', W'), values in [0, 1]
        The RGB picture.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector
    >>> from skanomaly.plot import reconstruction_grid
    >>> X = np.random.default_rng(0).random((32, 1, 8, 8))
    >>> detector = GANomalyDetector(n_epochs=1, n_filters=8, random_state=0).fit(X)
    >>> reconstruction_grid(detector, X[:4], upscale=1).shape
    (3, 32, 42)
    """
    import torch
    from torchvision.utils import make_grid, save_image

    inputs, recons, overlays, _ = _rows(detector, X, vmax)
    masks = _masks_for(masks, inputs)
    rgb = [np.repeat(a, 3, axis=1) if a.shape[1] == 1 else a for a in (inputs, recons)]
    # The masks are outlined on the heat maps, the last row.
    enlarged = [_enlarged(a, None, upscale) for a in rgb]
    tiles = np.concatenate([*enlarged, _enlarged(overlays, masks, upscale)])
    tiles = torch.from_numpy(tiles.astype(np.float32))
    grid = make_grid(tiles, nrow=len(inputs), padding=2, pad_value=1.0)
    if path is not None:
        save_image(grid, path)
    return grid.numpy()


@_fill_doc
def plot_reconstructions(detector, X, *, titles=None, vmax=None, figsize=None, masks=None):
    """Figure of inputs, reconstructions and anomaly-map overlays, one column per image.

    The anomaly maps (``|x - reconstruction|`` as a share of the training
    range) share one colour scale, explained by a colour bar under their
    row. With ``masks``, the outline of each ground-truth defect is drawn
    over its anomaly map (a magenta contour between the pixels).

    Parameters
    ----------
    %(detector_X)s
    titles : list of str, default=None
        One title per column (e.g. the score); ``None`` = the anomaly score.
    vmax : float, default=None
        See :func:`reconstruction_grid`.
    figsize : (float, float), default=None
        ``None`` = 1.3 inches per image.
    %(masks_of_X)s

    Returns
    -------
    fig : matplotlib.figure.Figure
        Three rows of panels (input, reconstruction, anomaly map), then the
        colour bar.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector
    >>> from skanomaly.plot import plot_reconstructions
    >>> X = np.random.default_rng(0).random((32, 64))  # rows of flattened 8x8 images
    >>> detector = GANomalyDetector(n_epochs=1, n_filters=8, image_shape=(8, 8), random_state=0)
    >>> fig = plot_reconstructions(detector.fit(X), X[:3])
    >>> len(fig.axes)  # 3 rows of 3 images, and the colour bar
    10
    """
    from matplotlib.figure import Figure

    inputs, recons, overlays, vmax = _rows(detector, X, vmax)
    masks = _masks_for(masks, inputs)
    n = len(inputs)
    if titles is None:
        titles = [f"{s:.3g}" for s in -detector.score_samples(_images_of(detector, X))]
    fig = Figure(figsize=figsize or (max(1.3 * n + 0.9, 3.0), 5.0), layout="constrained")
    axes = fig.subplots(3, n, squeeze=False)
    for row, (label, images) in enumerate(
        (("input", inputs), ("reconstruction", recons), ("anomaly map", overlays))
    ):
        for col in range(n):
            ax = axes[row, col]
            image = np.moveaxis(images[col], 0, -1)
            if image.shape[-1] == 1:
                ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(image, interpolation="nearest")
            ax.set(xticks=[], yticks=[])
            if row == 0:
                ax.set_title(titles[col], fontsize=8)
            if row == 2 and masks is not None and masks[col].any():
                ax.contour(masks[col], levels=[0.5], colors=[MASK_COLOUR], linewidths=1.0)
        axes[row, 0].set_ylabel(label, fontsize=8)
    # The maps are |x - reconstruction| in units of the training range (_rows).
    bar = _add_colour_bar(fig, axes[2], vmax, "|x - reconstruction| / training range")
    bar.ax.xaxis.label.set_fontsize(8)
    return fig


def plot_score_histogram(scores, y=None, *, threshold=None, bins=30, ax=None):
    """Histogram of anomaly scores, one colour per class.

    Parameters
    ----------
    scores : array-like of shape (n,)
        Anomaly scores, higher = more abnormal (``-detector.score_samples(X)``).
    y : array-like of shape (n,), default=None
        ``1`` anomaly, ``0`` normal; ``None`` = one histogram. Other values
        raise ``ValueError`` (``predict``'s ``-1`` / ``+1``: pass ``y == -1``).
    threshold : float, default=None
        Drawn as a vertical line (e.g. ``-detector.offset_``).
    bins : int, default=30
        Bins shared by the classes.
    ax : matplotlib Axes, default=None
        Draw there; ``None`` = a new figure.

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``ax``'s figure, or the new one.

    Examples
    --------
    >>> from skanomaly.plot import plot_score_histogram
    >>> fig = plot_score_histogram([0.1, 0.2, 0.9, 1.1], [0, 0, 1, 1], threshold=0.5)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['threshold', 'normal (2)', 'anomaly (2)']
    """
    from matplotlib.figure import Figure

    scores = np.asarray(scores, dtype=np.float64)
    if y is not None:
        y = np.asarray(y)
        if y.shape != scores.shape:
            raise ValueError(f"y has shape {y.shape} but scores have shape {scores.shape}")
        other = sorted(set(np.unique(y).tolist()) - {0, 1})
        if other:
            raise ValueError(
                f"y must be 1 (anomaly) or 0 (normal), got {other[:5]}; for predict()'s "
                "labels (-1 outlier, +1 inlier) pass y == -1"
            )
    if ax is None:
        ax = Figure(figsize=(6, 3.5), layout="constrained").subplots()
    fig = ax.figure
    edges = np.histogram_bin_edges(scores, bins=bins)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label="threshold")
    if y is None:
        ax.hist(scores, bins=edges, color="tab:blue", label=f"all ({len(scores)})")
    else:
        for value, name, colour in ((0, "normal", "tab:blue"), (1, "anomaly", "tab:red")):
            part = scores[y == value]
            ax.hist(part, bins=edges, alpha=0.6, color=colour, label=f"{name} ({len(part)})")
    ax.set_xlabel("anomaly score (higher = more abnormal)")
    ax.set_ylabel("images" if y is None else "count")
    ax.legend()
    return fig


def plot_history(history, *, figsize=None):
    """Training loss curves, one panel per loss.

    Parameters
    ----------
    history : dict of str to list of float, or a fitted detector
        ``detector.history_`` (or the detector itself).
    figsize : (float, float), default=None
        ``None`` = 2.6 inches per panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One panel per loss, in the order of ``history``.

    Examples
    --------
    >>> from skanomaly.plot import plot_history
    >>> fig = plot_history({"loss_d": [0.7, 0.5, 0.4], "loss_g": [3.0, 2.0, 1.5]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss_d', 'loss_g']
    """
    from matplotlib.figure import Figure

    if not isinstance(history, dict):
        check_is_fitted(history)
        history = history.history_
    if not history:
        raise ValueError("the history holds no losses")
    n = len(history)
    columns = min(n, 3)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=figsize or (2.6 * columns + 0.4, 2.2 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (name, values) in zip(axes, history.items(), strict=False):
        ax.plot(np.arange(1, len(values) + 1), values)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
    for ax in axes[n:]:
        fig.delaxes(ax)
    return fig
