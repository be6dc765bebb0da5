"""make_synthetic_defects: defects only under their masks, reproducible, written back."""

from __future__ import annotations

import numpy as np
import pytest

from skanomaly.datasets import load_image_folder, make_synthetic_defects, write_mvtec_folder


@pytest.mark.parametrize("shape", [(12, 8, 8), (12, 28, 28), (6, 3, 16, 20)])
def test_synthetic_defects_change_only_the_masked_pixels(shape):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 60, size=shape, dtype=np.uint8)
    defects = make_synthetic_defects(images, random_state=0)
    assert defects.images.shape == shape and defects.images.dtype == np.uint8
    assert defects.masks.shape == (shape[0], *shape[-2:])
    assert defects.masks.any(axis=(1, 2)).all()
    assert set(defects.kinds) <= {"scratch", "blob", "patch"}
    changed = defects.images != images
    if changed.ndim == 4:
        changed = changed.any(axis=1)
    assert not (changed & ~defects.masks).any()  # nothing outside the mask
    drawn = np.isin(defects.kinds, ["scratch", "blob"])
    # A dark image: scratches and blobs are bright, on every pixel of the mask.
    np.testing.assert_array_equal(changed[drawn], defects.masks[drawn])
    # Pasted patches change the image too.
    assert all(changed[i].any() for i in np.flatnonzero(defects.kinds == "patch"))


def test_synthetic_defects_are_reproducible_and_follow_kinds():
    images = np.random.default_rng(1).random((20, 10, 10))
    first = make_synthetic_defects(images, random_state=3)
    again = make_synthetic_defects(images, random_state=3)
    other = make_synthetic_defects(images, random_state=4)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.masks, again.masks)
    assert not np.array_equal(first.masks, other.masks)
    assert first.images.dtype == np.float64
    assert first.images.min() >= images.min() and first.images.max() <= images.max()
    only = make_synthetic_defects(images, kinds=["scratch"], random_state=0)
    assert set(only.kinds) == {"scratch"}
    # Scratches are thin: far fewer pixels than the image.
    assert only.masks.sum(axis=(1, 2)).max() <= 30


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((3, 8)), {}, "with sides of at least 4"),
        (np.zeros((3, 3, 3)), {}, "with sides of at least 4"),
        (np.zeros((0, 8, 8)), {}, "empty"),
        (np.zeros((3, 8, 8)), {"kinds": ["crack"]}, "kinds must be among"),
        (np.zeros((3, 8, 8)), {"kinds": []}, "kinds must be among"),
    ],
)
def test_synthetic_defects_errors(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_defects(images, **kwargs)


def test_synthetic_defects_written_and_read_back(tmp_path):
    images = (np.random.default_rng(2).random((8, 12, 12)) * 0.4).astype(np.float32)
    defects = make_synthetic_defects(images[4:], random_state=0)
    X_test = np.r_[images[:4], defects.images]
    types = np.r_[["good"] * 4, defects.kinds]
    masks = np.r_[np.zeros((4, 12, 12), bool), defects.masks]
    root = write_mvtec_folder(tmp_path, images[:4], X_test, types, masks)
    data = load_image_folder(root / "test", return_masks=True)
    assert data.target.sum() == 4 and data.masks.sum() == defects.masks.sum()
    for kind in set(defects.kinds):
        assert (root / "ground_truth" / kind / "000_mask.png").is_file()
