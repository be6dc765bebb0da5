"""One image file read: size limit, EXIF orientation, transparency, colour, 16 bits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from skanomaly.datasets import load_image_folder
from skanomaly.exceptions import ImageFolderWarning

from ..conftest import write_png


def test_huge_image_is_refused_in_one_line_before_decoding(tmp_path):
    # Beyond PIL's own limit (its DecompressionBombError), and between the two limits.
    for side, match in ((20000, "is larger than skanomaly reads"), (9000, "is 9000x9000 pixels")):
        write_png(tmp_path / "huge.png", np.zeros((1, 1)), width=side, height=side, data=b"")
        for image_size in (None, 32):
            with pytest.raises(ValueError, match=f"huge.png {match}") as info:
                load_image_folder(tmp_path, image_size=image_size)
            assert "\n" not in str(info.value) and "downscale" in str(info.value)


def _exif(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    return exif


def test_exif_orientation_is_applied(tmp_path):
    # A phone photo: rows as the sensor read them, and a tag to turn them.
    pixels = np.arange(8 * 12, dtype=np.uint8).reshape(8, 12) * 2
    Image.fromarray(pixels).save(tmp_path / "a.png", exif=_exif(6))  # rotate 90 clockwise
    Image.fromarray(pixels).save(tmp_path / "b.png", exif=_exif(3))  # rotate 180
    data = load_image_folder(tmp_path, image_size=(12, 8))
    np.testing.assert_array_equal(np.round(data.images[0, 0] * 255), np.rot90(pixels, -1))
    assert data.original_sizes == [(12, 8), (8, 12)]  # upright, before the resize
    # Without image_size the two differ in size, as they would on screen.
    with pytest.raises(ValueError, match="a.png is 12x8 but .*b.png is 8x12"):
        load_image_folder(tmp_path)


def test_exif_orientation_keeps_masks_aligned(tmp_path):
    pixels = np.zeros((8, 12), dtype=np.uint8)
    pixels[0, :3] = 255  # a defect in the top left corner of the stored rows
    for name in ("good", "crack"):
        (tmp_path / "test" / name).mkdir(parents=True)
        Image.fromarray(pixels).save(tmp_path / "test" / name / "a.png", exif=_exif(6))
    (tmp_path / "ground_truth" / "crack").mkdir(parents=True)
    upright = np.rot90(pixels, -1)
    Image.fromarray(upright).save(tmp_path / "ground_truth" / "crack" / "a_mask.png")
    data = load_image_folder(tmp_path / "test", return_masks=True)
    assert data.images.shape == (2, 1, 12, 8)
    np.testing.assert_array_equal(data.masks[0], upright > 0)
    np.testing.assert_array_equal(data.images[0, 0] > 0.5, data.masks[0])


def test_transparent_pixels_are_composited_onto_black(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red everywhere, hidden where transparent
    rgba[:4, :, 3] = 255
    rgba[4:, :, 3] = 0
    rgba[4, 0, 3] = 128  # half transparent: half the red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    opaque = rgba.copy()
    opaque[..., 3] = 255
    Image.fromarray(opaque, "RGBA").save(tmp_path / "b.png")
    with pytest.warns(ImageFolderWarning, match="1 of the 2 images .* transparent .*: a.png$"):
        data = load_image_folder(tmp_path)
    red = data.images[:, 0]
    assert np.all(red[0, :4] == 1) and np.all(red[0, 5:] == 0) and np.all(red[1] == 1)
    assert red[0, 4, 0] == pytest.approx(128 / 255, abs=1 / 255)
    # Grey with alpha stays grey, by the same rule.
    Image.fromarray(
        np.stack([np.full((8, 8), 200), rgba[..., 3]], -1).astype(np.uint8), "LA"
    ).save(tmp_path / "a.png")
    Image.new("L", (8, 8), 200).save(tmp_path / "b.png")
    with pytest.warns(ImageFolderWarning, match="transparent"):
        grey = load_image_folder(tmp_path)
    assert grey.images.shape == (2, 1, 8, 8)
    assert np.all(grey.images[0, 0, 5:] == 0) and np.all(grey.images[1] == 200 / 255)


def _palette_image(path, colours):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([c for colour in colours for c in colour])
    image.save(path)


def test_a_grey_palette_image_keeps_a_grey_folder_grey(tmp_path):
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / f"{i}.png")
    _palette_image(tmp_path / "p.png", [(0, 0, 0), (90, 90, 90)])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageFolderWarning)
        data = load_image_folder(tmp_path)
    assert data.images.shape == (4, 1, 8, 8)  # was RGB, all four
    assert data.paths[-1].endswith("p.png") and np.all(data.images[-1] == 90 / 255)


def test_colour_among_grey_images_is_read_as_rgb_with_a_warning(tmp_path):
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(tmp_path / f"{i}.png")
    _palette_image(tmp_path / "p.png", [(0, 0, 0), (200, 30, 30)])
    with pytest.warns(ImageFolderWarning, match=r"1 of the 4 images .*grayscale=True.*: p\.png"):
        data = load_image_folder(tmp_path)
    assert data.images.shape == (4, 3, 8, 8)
    np.testing.assert_allclose(data.images[-1, :, 0, 0], np.array([200, 30, 30]) / 255)
    assert load_image_folder(tmp_path, grayscale=True).images.shape == (4, 1, 8, 8)


def test_16_bit_grey_is_scaled_by_its_depth(tmp_path):
    values = np.linspace(0, 65535, 8 * 10).reshape(8, 10).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "a.png")
    write_png(tmp_path / "b.png", values[::-1])
    data = load_image_folder(tmp_path)
    assert data.images.shape == (2, 1, 8, 10)
    np.testing.assert_allclose(data.images[0, 0], values / 65535, atol=1e-6)
    np.testing.assert_allclose(data.images[1, 0], values[::-1] / 65535, atol=1e-6)
    # Far from the old clipping (42 % of the pixels at exactly 1.0).
    assert np.mean(data.images == 1.0) < 0.05
    rgb = load_image_folder(tmp_path, grayscale=False)
    np.testing.assert_allclose(rgb.images[0], np.repeat(values[None] / 65535, 3, 0), atol=1e-6)
    resized = load_image_folder(tmp_path, image_size=(4, 5))
    assert resized.images.shape == (2, 1, 4, 5)
    assert 0.3 < resized.images[0].mean() < 0.7


def test_16_bit_rgb_keeps_its_range(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.integers(0, 65536, size=(8, 9, 3)).astype(np.uint16)
    write_png(tmp_path / "rgb16.png", values)
    data = load_image_folder(tmp_path)
    assert data.images.shape == (1, 3, 8, 9)
    # PIL reads 16-bit RGB at 8 bits: equal to within one 8-bit step.
    np.testing.assert_allclose(data.images[0], np.moveaxis(values, -1, 0) / 65535, atol=1 / 255)
