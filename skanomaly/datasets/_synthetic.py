"""Synthetic defects drawn on normal images, for localisation tests without real defects."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

# Defect kinds drawn by make_synthetic_defects, in its documented order.
DEFECT_KINDS = ("scratch", "blob", "patch")


def make_synthetic_defects(images, *, kinds=DEFECT_KINDS, random_state=None):
    """Draw one synthetic defect on each image, and return its mask.

    A stand-in for real defect data (e.g. MVTec AD, which is not always at
    hand) to test localisation: each image gets one defect of a kind drawn
    at random from ``kinds``, sized relative to the image:

    - ``"scratch"``: a thin straight line (about 1/28 of the side wide, 30-70%
      of the side long) at a random angle;
    - ``"blob"``: a filled ellipse (radii 8-20% of the side);
    - ``"patch"``: cut-and-paste (CutPaste, Li et al. 2021): a rectangle
      (15-30% of the side) copied from another image of ``images`` at
      another place; of 10 random tries, the one that changes the image most.

    Scratches and blobs take a value that contrasts with what they cover
    (bright on dark, dark on bright, per channel), blended at 70-100% over
    it. Lines and ellipses are drawn with ``PIL.ImageDraw``. The mask is the
    drawn shape.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, C, H, W)
        Normal images; ``uint8`` or float. The value range is 0-255 for
        ``uint8``, else the range of ``images``.
    kinds : sequence of str, default=("scratch", "blob", "patch")
        The defect kinds to draw from.
    random_state : int, RandomState instance or None, default=None
        Makes the defects reproducible.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``: the defective images, of the input's shape and dtype;
        ``masks``: bool array ``(n, H, W)``, ``True`` on the defect;
        ``kinds``: array of str ``(n,)``, the kind of each defect.

    Raises
    ------
    ValueError
        When ``images`` is empty, not ``(n, H, W)`` or ``(n, C, H, W)``, or
        has a side under 4 pixels, or when ``kinds`` is empty or names an
        unknown kind.

    See Also
    --------
    write_mvtec_folder : write normal and defective images with their masks.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skanomaly.datasets import make_synthetic_defects
    >>> digits = load_digits().images[:6]
    >>> defects = make_synthetic_defects(digits, random_state=0)
    >>> defects.images.shape, defects.masks.shape, defects.kinds.tolist()
    ((6, 8, 8), (6, 8, 8), ['scratch', 'blob', 'scratch', 'blob', 'blob', 'patch'])
    >>> bool(defects.masks.any(axis=(1, 2)).all())
    True
    """
    from sklearn.utils import check_random_state

    images = np.asarray(images)
    if images.ndim not in (3, 4) or min(images.shape[-2:]) < 4:
        raise ValueError(
            f"images must be (n, H, W) or (n, C, H, W) with sides of at least 4 pixels, "
            f"got shape {images.shape}"
        )
    if len(images) == 0:
        raise ValueError("images is empty")
    kinds = list(kinds)
    unknown = sorted(set(kinds) - set(DEFECT_KINDS))
    if not kinds or unknown:
        raise ValueError(f"kinds must be among {list(DEFECT_KINDS)}, got {kinds}")
    rng = check_random_state(random_state)
    stack = images.astype(np.float64).reshape(len(images), -1, *images.shape[-2:])
    if images.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:
        low, high = float(stack.min()), float(stack.max())
    out = stack.copy()
    masks = np.zeros((len(images), *images.shape[-2:]), dtype=bool)
    chosen = rng.choice(kinds, size=len(images))
    for i, kind in enumerate(chosen):
        if kind == "patch":
            out[i], masks[i] = _paste_patch(stack, i, rng)
        else:
            masks[i] = _draw_shape(kind, images.shape[-2:], rng)
            covered = stack[i][:, masks[i]]  # (C, pixels under the defect)
            mid = (low + high) / 2
            target = np.where(covered.mean(axis=1) < mid, high, low)[:, None]
            strength = rng.uniform(0.7, 1.0)
            out[i][:, masks[i]] = covered + strength * (target - covered)
    if images.dtype == np.uint8:
        out = np.clip(np.round(out), 0, 255)
    out = out.reshape(images.shape).astype(images.dtype)
    return Bunch(images=out, masks=masks, kinds=np.asarray(chosen, dtype=str))


def _draw_shape(kind: str, shape, rng) -> np.ndarray:
    """A scratch (line) or blob (ellipse) mask of ``shape`` (H, W), drawn with PIL."""
    from PIL import Image, ImageDraw

    height, width = shape
    side = min(height, width)
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    x, y = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
    if kind == "scratch":
        length = rng.uniform(0.3, 0.7) * side
        angle = rng.uniform(0, np.pi)
        dx, dy = length / 2 * np.cos(angle), length / 2 * np.sin(angle)
        line_width = max(1, round(side / 28))
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=1, width=line_width)
    else:
        rx, ry = np.maximum(rng.uniform(0.08, 0.2, size=2) * side, 0.5)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=1)
    mask = np.asarray(canvas, dtype=bool)
    if not mask.any():  # a shape that fell between pixels: keep its centre
        mask[min(int(y), height - 1), min(int(x), width - 1)] = True
    return mask


def _paste_patch(stack: np.ndarray, i: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Cut a rectangle from another image and paste it on image ``i`` (CutPaste)."""
    _, height, width = stack.shape[1:]
    side = min(height, width)
    best, best_change = None, -1.0
    for _ in range(10):
        h, w = np.maximum(np.round(rng.uniform(0.15, 0.3, size=2) * side), 2).astype(int)
        source = (
            stack[(i + rng.randint(1, len(stack))) % len(stack)] if len(stack) > 1 else stack[i]
        )
        sy, sx = rng.randint(0, height - h + 1), rng.randint(0, width - w + 1)
        ty, tx = rng.randint(0, height - h + 1), rng.randint(0, width - w + 1)
        patch = source[:, sy : sy + h, sx : sx + w]
        change = float(np.abs(patch - stack[i][:, ty : ty + h, tx : tx + w]).mean())
        if change > best_change:
            best, best_change = (patch, ty, tx, h, w), change
    patch, ty, tx, h, w = best
    image = stack[i].copy()
    image[:, ty : ty + h, tx : tx + w] = patch
    mask = np.zeros((height, width), dtype=bool)
    mask[ty : ty + h, tx : tx + w] = True
    return image, mask
