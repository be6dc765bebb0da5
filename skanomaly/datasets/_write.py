"""Arrays written as image folders: the plain layout and MVTec AD's, with masks.

Every PNG goes through :func:`skanomaly._io.atomic_write`: a folder written
by a run that was stopped holds whole images only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._io import atomic_write
from ._folders import is_normal_class


def write_image_folder(path, X_train, X_test=None, y_test=None):
    """Write arrays as PNG files in the layout :func:`load_image_folder` reads.

    ``train/0.normal/`` gets ``X_train``; ``test/0.normal/`` and
    ``test/1.abnormal/`` get the rows of ``X_test`` with ``y_test`` 0 and 1.
    Values are mapped linearly to 0-255 from the joint range of all the
    arrays (``uint8`` arrays are written as they are).

    Parameters
    ----------
    path : str or path-like
        Root folder; created if needed. Files of the same names are replaced,
        each written whole (through a temporary file).
    X_train : array-like of shape (n, H, W) or (n, C, H, W)
        Normal training images, ``C`` in {1, 3}.
    X_test : array-like of shape (m, H, W) or (m, C, H, W), default=None
        Test images.
    y_test : array-like of shape (m,), default=None
        ``1`` anomaly, ``0`` normal; needed with ``X_test``.

    Returns
    -------
    root : pathlib.Path

    Raises
    ------
    ValueError
        Before anything is written, when ``y_test`` is missing, not one
        label per row of ``X_test`` or not 0 and 1 only, or when an array is
        not numeric or holds NaN or infinite values; when an image is not
        ``(H, W)``, ``(1, H, W)`` or ``(3, H, W)``.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanomaly.datasets import load_image_folder, write_image_folder
    >>> rng = np.random.default_rng(0)
    >>> root = write_image_folder(tempfile.mkdtemp(), rng.random((5, 16, 16)),
    ...                           rng.random((4, 16, 16)), [0, 0, 1, 1])
    >>> sorted(p.name for p in (root / "test").iterdir())
    ['0.normal', '1.abnormal']
    >>> load_image_folder(root / "test").target.tolist()
    [0, 0, 1, 1]
    """
    arrays = [np.asarray(X_train)]
    if X_test is not None:
        if y_test is None or len(y_test) != len(X_test):
            raise ValueError("y_test must give one 0/1 label per row of X_test")
        arrays.append(np.asarray(X_test))
        labels = np.asarray(y_test)
        other = sorted(set(np.unique(labels).tolist()) - {0, 1})
        if labels.ndim != 1 or other:
            raise ValueError(
                f"y_test must hold 0 (normal) and 1 (anomaly) only, got {other[:5]}: "
                "every image is written, so none may be left out"
            )
    to_pil = _png_converter(arrays, ("X_train", "X_test"))

    root = Path(path).expanduser()
    groups = [("train/0.normal", arrays[0])]
    if X_test is not None:
        y_test = np.asarray(y_test)
        groups.append(("test/0.normal", arrays[1][y_test == 0]))
        groups.append(("test/1.abnormal", arrays[1][y_test == 1]))
    for folder, images in groups:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            _save_png(to_pil(image), root / folder / f"{i:05d}.png")
    return root


def _png_converter(arrays, names):
    """A function turning one image of ``arrays`` into an 8-bit PIL image.

    Values are mapped linearly to 0-255 from the joint range of ``arrays``;
    ``uint8`` arrays are kept as they are. ``names`` name the arrays in errors.
    """
    from PIL import Image

    for name, array in zip(names, arrays, strict=False):
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds NaN or infinite values, which no image can show")
    if all(a.dtype == np.uint8 for a in arrays):
        low, high = 0.0, 255.0
    else:
        low = min(float(a.min()) for a in arrays)
        high = max(float(a.max()) for a in arrays)
        high = high if high > low else low + 1.0

    def to_pil(image):
        image = np.asarray(image, dtype=np.float64)
        if image.ndim == 3:  # (C, H, W) -> (H, W, C), or (H, W) for one channel
            image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
            raise ValueError(f"images must be (H, W), (1, H, W) or (3, H, W), got {image.shape}")
        return Image.fromarray(np.uint8(np.round((image - low) / (high - low) * 255)))

    return to_pil


def write_mvtec_folder(path, X_train, X_test, defect_types, masks):
    """Write images and defect masks in the MVTec AD layout.

    ``train/good/`` gets ``X_train``; each row of ``X_test`` goes to
    ``test/<defect type>/``, and for every row not of type ``"good"`` its
    mask goes to ``ground_truth/<defect type>/<name>_mask.png`` (0 and 255).
    Files are numbered ``000.png``, ``001.png``... within each folder.
    :func:`load_image_folder` reads the result back with
    ``return_masks=True``. Image values are mapped to 0-255 as in
    :func:`write_image_folder`.

    Parameters
    ----------
    path : str or path-like
        Root folder, as for :func:`write_image_folder`.
    X_train, X_test : array-like of shape (n, H, W) or (n, C, H, W)
        Normal training images, and ``m`` test images; ``C`` in {1, 3}.
    defect_types : array-like of str, shape (m,)
        ``"good"`` for a normal image, else the defect's name (a folder
        name, which :func:`is_normal_class` must read as anomalous).
    masks : array-like of shape (m, H, W)
        Non-zero on the defect pixels; all-zero for ``"good"`` rows.

    Returns
    -------
    root : pathlib.Path
        The root folder, ``path`` with ``~`` expanded.

    Raises
    ------
    ValueError
        Before anything is written, when ``X_test``, ``defect_types`` and
        ``masks`` differ in length or the masks' size is not the images',
        when a defect type is not a plain folder name that
        :func:`is_normal_class` reads as anomalous, when a ``"good"`` row
        has a non-zero mask, or when an array is not numeric or holds NaN or
        infinite values; when an image is not ``(H, W)``, ``(1, H, W)`` or
        ``(3, H, W)``.

    See Also
    --------
    make_synthetic_defects : test images and masks to write.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanomaly.datasets import load_image_folder, write_mvtec_folder
    >>> X = np.zeros((3, 8, 8)); masks = np.zeros((3, 8, 8), dtype=bool)
    >>> X[2, 2:4, 2:4] = masks[2, 2:4, 2:4] = 1
    >>> root = write_mvtec_folder(tempfile.mkdtemp(), X[:2], X, ["good", "good", "blob"], masks)
    >>> files = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
    >>> files  # doctest: +NORMALIZE_WHITESPACE
    ['ground_truth/blob/000_mask.png', 'test/blob/000.png', 'test/good/000.png',
     'test/good/001.png', 'train/good/000.png', 'train/good/001.png']
    >>> data = load_image_folder(root / "test", return_masks=True)
    >>> data.target.tolist(), data.masks.sum(axis=(1, 2)).tolist()
    ([1, 0, 0], [4, 0, 0])
    """
    from PIL import Image

    X_train, X_test = np.asarray(X_train), np.asarray(X_test)
    defect_types = np.asarray(defect_types, dtype=str)
    masks = np.asarray(masks)
    if not len(X_test) == len(defect_types) == len(masks):
        raise ValueError(
            f"X_test, defect_types and masks must have one entry per test image, got "
            f"{len(X_test)}, {len(defect_types)} and {len(masks)}"
        )
    if masks.ndim != 3 or masks.shape[1:] != X_test.shape[-2:]:
        raise ValueError(
            f"masks must be (m, H, W) with the images' H and W, got {masks.shape} for "
            f"images of shape {X_test.shape}"
        )
    for name in np.unique(defect_types):
        if name != "good" and (is_normal_class(name) or not name or Path(name).name != name):
            raise ValueError(
                f"defect type {name!r} cannot be a defect folder: use 'good' for normal "
                "images and, for defects, plain names without 'normal' or 'good'"
            )
        if name == "good" and masks[defect_types == name].any():
            raise ValueError("rows of defect type 'good' must have all-zero masks")
    to_pil = _png_converter([X_train, X_test], ("X_train", "X_test"))

    root = Path(path).expanduser()
    groups = [("train/good", X_train, None)]
    groups += [
        (f"test/{name}", X_test[defect_types == name], name) for name in np.unique(defect_types)
    ]
    for folder, images, name in groups:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            _save_png(to_pil(image), root / folder / f"{i:03d}.png")
        if name not in (None, "good"):
            (root / "ground_truth" / name).mkdir(parents=True, exist_ok=True)
            for i, mask in enumerate(masks[defect_types == name]):
                mask_image = Image.fromarray(np.uint8(mask != 0) * 255)
                _save_png(mask_image, root / "ground_truth" / name / f"{i:03d}_mask.png")
    return root


def _save_png(image, path: Path) -> None:
    """Write a PIL image as a PNG file, whole or not at all."""
    with atomic_write(path) as handle:
        image.save(handle, format="PNG")
