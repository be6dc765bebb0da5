"""Image folders from the wild: links, FIFOs, huge and 16-bit images, folder names."""

from __future__ import annotations

import os
import signal
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from skanomaly.datasets import is_normal_class, load_image_folder, write_image_folder


def _png(path, array, *, width=None, height=None, data=None):
    """Write a PNG by hand: 16-bit grey (H, W) or 16-bit RGB (H, W, 3).

    ``width`` / ``height`` override the header (for a crafted huge image).
    """
    array = np.asarray(array, dtype=">u2")
    colour = 2 if array.ndim == 3 else 0
    h, w = array.shape[:2]
    rows = b"".join(b"\x00" + array[i].tobytes() for i in range(h))

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width or w, height or h, 16, colour, 0, 0, 0)
    body = zlib.compress(rows) if data is None else data
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def _grey(folder, name, value=100, size=(9, 9)):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(folder / name)


# ----------------------------------------------------------------------
# What is read: regular files, each once.
# ----------------------------------------------------------------------
def test_symlink_cycles_are_not_followed_round(tmp_path):
    for i in range(3):
        _grey(tmp_path / "good", f"{i}.png", 10 * i)
    _grey(tmp_path / "crack", "c.png")
    os.symlink("..", tmp_path / "good" / "loop")  # good/loop/good/loop/...
    os.symlink(tmp_path / "good", tmp_path / "crack" / "again")
    os.symlink(tmp_path / "good" / "0.png", tmp_path / "good" / "same.png")
    data = load_image_folder(tmp_path)
    assert len(data.paths) == 4 and len(set(map(os.path.realpath, data.paths))) == 4
    np.testing.assert_array_equal(data.target, [1, 0, 0, 0])


def test_a_fifo_named_like_an_image_does_not_hang(tmp_path):
    _grey(tmp_path, "a.png")
    _grey(tmp_path, "b.png")
    os.mkfifo(tmp_path / "pipe.png")
    signal.alarm(30)  # a hang fails the test instead of blocking the run
    try:
        data = load_image_folder(tmp_path)
    finally:
        signal.alarm(0)
    assert [os.path.basename(p) for p in data.paths] == ["a.png", "b.png"]


def test_huge_image_is_refused_in_one_line_before_decoding(tmp_path):
    # Beyond PIL's own limit (its DecompressionBombError), and between the two limits.
    for side, match in ((20000, "is larger than skanomaly reads"), (9000, "is 9000x9000 pixels")):
        _png(tmp_path / "huge.png", np.zeros((1, 1)), width=side, height=side, data=b"")
        for image_size in (None, 32):
            with pytest.raises(ValueError, match=f"huge.png {match}") as info:
                load_image_folder(tmp_path, image_size=image_size)
            assert "\n" not in str(info.value) and "downscale" in str(info.value)


# ----------------------------------------------------------------------
# 16-bit images keep their values.
# ----------------------------------------------------------------------
def test_16_bit_grey_is_scaled_by_its_depth(tmp_path):
    values = np.linspace(0, 65535, 8 * 10).reshape(8, 10).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "a.png")
    _png(tmp_path / "b.png", values[::-1])
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
    _png(tmp_path / "rgb16.png", values)
    data = load_image_folder(tmp_path)
    assert data.images.shape == (1, 3, 8, 9)
    # PIL reads 16-bit RGB at 8 bits: equal to within one 8-bit step.
    np.testing.assert_allclose(data.images[0], np.moveaxis(values, -1, 0) / 65535, atol=1 / 255)


# ----------------------------------------------------------------------
# Labels from folder names: a stated rule, and overrides.
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, normal",
    [
        ("good", True),
        ("OK", True),
        ("ok_parts", True),
        ("0.normal", True),
        ("Normal", True),
        ("nominal", True),
        ("pass", True),
        ("no_good", False),
        ("not_good", False),
        ("NotGood", False),
        ("NG", False),
        ("nok", False),
        ("bad", False),
        ("1.abnormal", False),
        ("defect", False),
        ("anomaly", False),
        ("crack", False),
        ("broken_large", False),
    ],
)
def test_default_folder_rule(name, normal):
    assert is_normal_class(name) is normal


def test_inspection_ok_ng_pair(tmp_path):
    _grey(tmp_path / "OK", "a.png")
    _grey(tmp_path / "NG", "b.png")
    _grey(tmp_path / "not_good", "c.png")
    data = load_image_folder(tmp_path)
    assert data.classes == ["NG", "OK", "not_good"]
    np.testing.assert_array_equal(data.target, [1, 0, 1])


def test_class_names_override_the_rule(tmp_path):
    for name in ("pass_a", "reject", "sample"):
        _grey(tmp_path / name, "x.png")
    assert load_image_folder(tmp_path, normal_class="sample").target.tolist() == [1, 1, 0]
    assert load_image_folder(tmp_path, normal_class=["sample", "reject"]).target.tolist() == [
        1,
        0,
        0,
    ]
    assert load_image_folder(tmp_path, anomalous_class="pass_a").target.tolist() == [1, 0, 0]
    both = load_image_folder(tmp_path, normal_class="sample", anomalous_class=["pass_a", "reject"])
    assert both.target.tolist() == [1, 1, 0]
    with pytest.raises(ValueError, match="normal class 'Sample' is not a class folder"):
        load_image_folder(tmp_path, normal_class="Sample")
    with pytest.raises(ValueError, match=r"\['reject'\] unnamed"):
        load_image_folder(tmp_path, normal_class="sample", anomalous_class="pass_a")
    with pytest.raises(ValueError, match="named both"):
        load_image_folder(tmp_path, normal_class="sample", anomalous_class="sample")


# ----------------------------------------------------------------------
# write_image_folder writes every image, or refuses.
# ----------------------------------------------------------------------
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
