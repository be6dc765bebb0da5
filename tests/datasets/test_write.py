"""write_image_folder and write_mvtec_folder: every image written whole, or a refusal."""

from __future__ import annotations

import numpy as np
import pytest

from skanomaly.datasets import load_image_folder, write_image_folder, write_mvtec_folder


def test_write_image_folder_scales_float_range(tmp_path):
    X = np.array([[[0.0, 16.0]] * 8] * 2)  # digits-like range 0..16, 8x2
    X = np.concatenate([X, X], axis=2)  # 8x4
    X = np.concatenate([X, X], axis=2)  # 8x8
    root = write_image_folder(tmp_path, X)
    data = load_image_folder(root / "train")
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    with pytest.raises(ValueError, match="y_test"):
        write_image_folder(tmp_path, X, X)


def test_write_image_folder_rgb(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(2, 3, 8, 9), dtype=np.uint8)
    data = load_image_folder(write_image_folder(tmp_path, X) / "train")
    np.testing.assert_array_equal(np.round(data.images * 255), X)


def test_write_image_folder_refuses_what_it_would_drop_or_garble(tmp_path):
    X = np.random.default_rng(0).random((3, 8, 8))
    with pytest.raises(ValueError, match=r"y_test must hold 0 .* and 1 .* only, got \[-1\]"):
        write_image_folder(tmp_path, X, X, [0, 1, -1])
    with pytest.raises(ValueError, match="got \\[2\\]"):
        write_image_folder(tmp_path, X, X, [0, 2, 1])
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X_train holds NaN"):
        write_image_folder(tmp_path, bad)
    with pytest.raises(ValueError, match="X_test holds NaN"):
        write_image_folder(tmp_path, X, bad, [0, 0, 1])
    assert not any(tmp_path.iterdir())


def test_write_mvtec_folder_checks_its_input(tmp_path):
    X = np.zeros((2, 8, 8))
    masks = np.zeros((2, 8, 8), dtype=bool)
    masks[1, 0, 0] = True
    with pytest.raises(ValueError, match="one entry per test image"):
        write_mvtec_folder(tmp_path, X, X, ["good"], masks)
    with pytest.raises(ValueError, match="H and W"):
        write_mvtec_folder(tmp_path, X, X, ["good", "dent"], masks[:, :4])
    for bad in ("normal_dent", "a/b", ""):
        with pytest.raises(ValueError, match="cannot be a defect folder"):
            write_mvtec_folder(tmp_path, X, X, ["good", bad], masks)
    with pytest.raises(ValueError, match="'good' must have all-zero masks"):
        write_mvtec_folder(tmp_path, X, X, ["good", "good"], masks)


def test_a_failed_write_leaves_the_old_image_and_no_temporary_file(tmp_path, monkeypatch):
    from PIL import Image

    root = write_image_folder(tmp_path, np.zeros((2, 8, 8), dtype=np.uint8))
    first = root / "train" / "0.normal" / "00000.png"
    before = first.read_bytes()

    def half_save(self, handle, *args, **kwargs):
        handle.write(b"\x89PNG half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", half_save)
    with pytest.raises(OSError, match="disk full"):
        write_image_folder(tmp_path, np.full((2, 8, 8), 255, dtype=np.uint8))
    assert first.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
