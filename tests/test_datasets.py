"""skanomaly.datasets: loaders, image folders from the wild, their errors, the splits."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from skanomaly.datasets import (
    get_data_home,
    is_normal_class,
    load_fashion_mnist,
    load_image_folder,
    load_mnist,
    load_odds,
    make_synthetic_defects,
    one_class_anomaly_split,
    one_class_split,
    write_image_folder,
    write_mvtec_folder,
)
from skanomaly.exceptions import ImageFolderWarning

from .conftest import shared_dataset, write_png


# ----------------------------------------------------------------------
# data home
# ----------------------------------------------------------------------
def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SKANOMALY_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKANOMALY_DATA")
    assert get_data_home().name == "skanomaly_data"
    assert "~" not in str(get_data_home())


# ----------------------------------------------------------------------
# ODDS
# ----------------------------------------------------------------------
@pytest.fixture
def odds_home(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "odds").mkdir()
    X = rng.normal(size=(30, 3))
    y = (np.arange(30) < 4).astype(float)[:, None]  # ODDS stores y as an (n, 1) float column
    savemat(tmp_path / "odds" / "toy.mat", {"X": X, "y": y})
    return tmp_path, X, y.ravel()


def test_load_odds_by_name_path_and_env(odds_home, monkeypatch):
    home, X, y = odds_home
    X1, y1 = load_odds("toy", data_home=home)
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(y1, y)
    assert X1.dtype == np.float64 and y1.dtype == np.int64 and y1.ndim == 1

    X2, _ = load_odds(home / "odds" / "toy.mat")
    np.testing.assert_array_equal(X2, X)

    monkeypatch.setenv("SKANOMALY_DATA", str(home))
    X3, _ = load_odds("toy")
    np.testing.assert_array_equal(X3, X)


def test_load_odds_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"odds.*nothere\.mat"):
        load_odds("nothere", data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_odds(tmp_path / "nothere.mat")


def test_load_odds_missing_keys(tmp_path):
    savemat(tmp_path / "bad.mat", {"X": np.zeros((3, 2)), "labels": np.zeros(3)})
    with pytest.raises(ValueError, match=r"no y variable.*found \['X', 'labels'\]"):
        load_odds(tmp_path / "bad.mat")


def test_load_odds_not_a_mat_file(tmp_path):
    (tmp_path / "junk.mat").write_text("not a matlab file")
    with pytest.raises(ValueError, match="not a readable MATLAB"):
        load_odds(tmp_path / "junk.mat")


def test_load_odds_length_mismatch(tmp_path):
    savemat(tmp_path / "short.mat", {"X": np.zeros((3, 2)), "y": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="one label per row"):
        load_odds(tmp_path / "short.mat")


@pytest.mark.parametrize(
    "name, shape, n_outliers", [("glass", (214, 9), 9), ("breastw", (683, 9), 239)]
)
def test_load_odds_shared_copy(name, shape, n_outliers):
    root = shared_dataset("odds", f"{name}.mat").parent.parent
    X, y = load_odds(name, data_home=root)
    assert X.shape == shape
    assert set(np.unique(y)) == {0, 1} and y.sum() == n_outliers


# ----------------------------------------------------------------------
# MNIST / Fashion-MNIST
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "loader, folder", [(load_fashion_mnist, "FashionMNIST"), (load_mnist, "MNIST")]
)
def test_mnist_like_missing_files_say_where_to_put_them(loader, folder, tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        loader(tmp_path, download=False)
    message = str(info.value)
    assert str(tmp_path / folder / "raw") in message
    assert "train-images-idx3-ubyte" in message


def test_load_fashion_mnist_shared_copy():
    root = shared_dataset("FashionMNIST", "raw").parent.parent
    X, y = load_fashion_mnist(root, train=False, download=False)
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


# ----------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------
@pytest.fixture
def folder(tmp_path):
    """8 normal training images; test: 3 normal, 2 anomalous (10x12 pixels)."""
    rng = np.random.default_rng(0)
    X_train = rng.integers(0, 256, size=(8, 10, 12), dtype=np.uint8)
    X_test = rng.integers(0, 256, size=(5, 10, 12), dtype=np.uint8)
    y_test = np.array([1, 0, 0, 1, 0])
    root = write_image_folder(tmp_path / "data", X_train, X_test, y_test)
    return root, X_train, X_test, y_test


def test_image_folder_round_trip(folder):
    root, X_train, X_test, y_test = folder
    train = load_image_folder(root / "train")
    assert train.images.shape == (8, 1, 10, 12) and train.images.dtype == np.float32
    np.testing.assert_array_equal(np.round(train.images[:, 0] * 255), X_train)
    np.testing.assert_array_equal(train.target, np.zeros(8))

    test = load_image_folder(root / "test")
    assert test.classes == ["0.normal", "1.abnormal"]
    np.testing.assert_array_equal(test.target, [0, 0, 0, 1, 1])
    # rows, labels and paths line up: the abnormal folder holds the y_test == 1 images
    expected = np.r_[X_test[y_test == 0], X_test[y_test == 1]]
    np.testing.assert_array_equal(np.round(test.images[:, 0] * 255), expected)
    assert [p.split("/")[-2] for p in test.paths] == ["0.normal"] * 3 + ["1.abnormal"] * 2


def test_image_folder_mvtec_layout(tmp_path):
    for name in ("good", "crack", "scratch"):
        (tmp_path / name).mkdir()
        Image.new("L", (9, 9), 100).save(tmp_path / name / "a.png")
    data = load_image_folder(tmp_path)
    assert data.classes == ["crack", "good", "scratch"]
    np.testing.assert_array_equal(data.target, [1, 0, 1])


def test_image_folder_flat_has_no_labels(tmp_path):
    for i in range(3):
        Image.new("L", (8, 8), 10 * i).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.warns(ImageFolderWarning, match=r"other file types \(\.txt\): 1\): notes.txt"):
        data = load_image_folder(tmp_path)
    assert data.target is None and data.classes == []
    assert data.images.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(data.images[:, 0, 0, 0], np.array([0, 10, 20]) / 255)


def test_image_folder_resize_and_channels(tmp_path):
    Image.new("RGB", (20, 16), (255, 0, 0)).save(tmp_path / "red.png")
    Image.new("L", (30, 30), 255).save(tmp_path / "white.png")
    with pytest.warns(ImageFolderWarning, match="1 of the 2 images .* colour.*: red.png"):
        rgb = load_image_folder(tmp_path, image_size=12)
    assert rgb.images.shape == (2, 3, 12, 12)  # one colour image: everything RGB
    np.testing.assert_allclose(rgb.images[0, :, 5, 5], [1, 0, 0])
    grey = load_image_folder(tmp_path, image_size=(8, 10), grayscale=True)
    assert grey.images.shape == (2, 1, 8, 10)
    assert load_image_folder(tmp_path, image_size=8, grayscale=False).images.shape[1] == 3


def test_image_folder_grey_images_stay_grey(folder):
    root = folder[0]
    assert load_image_folder(root / "train", grayscale=None).images.shape[1] == 1
    assert load_image_folder(root / "train", grayscale=False).images.shape[1] == 3


def test_image_folder_errors(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        load_image_folder(tmp_path / "file.png")

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(empty)
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(empty)

    classes = tmp_path / "classes"
    (classes / "good").mkdir(parents=True)
    (classes / "bad").mkdir()
    Image.new("L", (8, 8)).save(classes / "good" / "a.png")
    with pytest.raises(ValueError, match="bad"):  # an empty class folder is named
        load_image_folder(classes)

    with pytest.raises(ValueError, match="pass .*train"):  # the data set root
        load_image_folder(folder[0])


def test_image_folder_unreadable_image_is_named(folder):
    root = folder[0]
    broken = root / "train" / "0.normal" / "broken.png"
    broken.write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        load_image_folder(root / "train")


def test_image_folder_size_mismatch(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "a.png")
    Image.new("L", (9, 8)).save(tmp_path / "b.png")
    with pytest.raises(ValueError, match=r"differ in size.*b.png is 8x9.*image_size"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=8).images.shape == (2, 1, 8, 8)


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
    with pytest.warns(ImageFolderWarning, match="links to files already read: 1"):
        data = load_image_folder(tmp_path)
    assert len(data.paths) == 4 and len(set(map(os.path.realpath, data.paths))) == 4
    np.testing.assert_array_equal(data.target, [1, 0, 0, 0])


def test_a_fifo_named_like_an_image_does_not_hang(tmp_path):
    _grey(tmp_path, "a.png")
    _grey(tmp_path, "b.png")
    os.mkfifo(tmp_path / "pipe.png")
    signal.alarm(30)  # a hang fails the test instead of blocking the run
    try:
        with pytest.warns(ImageFolderWarning, match="not regular files: 1"):
            data = load_image_folder(tmp_path)
    finally:
        signal.alarm(0)
    assert [os.path.basename(p) for p in data.paths] == ["a.png", "b.png"]


def test_huge_image_is_refused_in_one_line_before_decoding(tmp_path):
    # Beyond PIL's own limit (its DecompressionBombError), and between the two limits.
    for side, match in ((20000, "is larger than skanomaly reads"), (9000, "is 9000x9000 pixels")):
        write_png(tmp_path / "huge.png", np.zeros((1, 1)), width=side, height=side, data=b"")
        for image_size in (None, 32):
            with pytest.raises(ValueError, match=f"huge.png {match}") as info:
                load_image_folder(tmp_path, image_size=image_size)
            assert "\n" not in str(info.value) and "downscale" in str(info.value)


# ----------------------------------------------------------------------
# Folders from the wild: hidden entries, skipped files, orientation,
# colour and transparency, each by one stated rule.
# ----------------------------------------------------------------------
def _skip_warning(record):
    """The one 'skipped' warning among ``record`` (pytest.warns' list)."""
    (warning,) = [w for w in record if "skipped" in str(w.message)]
    assert "\n" not in str(warning.message)
    return str(warning.message)


def test_hidden_entries_are_not_read(tmp_path):
    _grey(tmp_path / "good", "a.png", 10)
    _grey(tmp_path / "crack", "b.png", 200)
    _grey(tmp_path / "good" / ".ipynb_checkpoints", "a-checkpoint.png")
    _grey(tmp_path / ".cache", "x.png")
    # macOS: AppleDouble files (not images) beside each file, and __MACOSX/ in zips.
    (tmp_path / "good" / "._a.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "__MACOSX" / "good").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "good" / "._a.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    with pytest.warns(ImageFolderWarning) as record:
        data = load_image_folder(tmp_path)
    assert data.classes == ["crack", "good"] and len(data.paths) == 2
    np.testing.assert_array_equal(data.target, [1, 0])
    message = _skip_warning(record)
    assert "skipped 5 entries" in message and "(hidden: 5)" in message
    assert {os.path.relpath(p, tmp_path) for p in data.skipped} == {
        ".DS_Store", ".cache", "__MACOSX", "good/.ipynb_checkpoints", "good/._a.png",
    }  # fmt: skip
    assert set(data.skipped.values()) == {"hidden"}


def test_every_skipped_file_is_counted_and_named_in_one_line(tmp_path):
    for i in range(3):
        _grey(tmp_path / "good", f"{i}.png", 10 * i)
    _grey(tmp_path / "bad", "x.png")
    Image.new("L", (9, 9), 50).save(tmp_path / "good" / "anim.gif")  # GIFs are not read
    for i in range(12):
        (tmp_path / "bad" / f"notes{i}.txt").write_text("n")
    _grey(tmp_path, "loose.png")  # beside the class folders: belongs to no class
    os.symlink(tmp_path / "missing.png", tmp_path / "good" / "dangling.png")
    with pytest.warns(ImageFolderWarning) as record:
        data = load_image_folder(tmp_path)
    assert len(data.paths) == 4
    message = _skip_warning(record)
    assert "skipped 15 entries" in message
    assert "other file types (.gif, .txt): 13" in message
    assert "broken links: 1" in message and "beside the class folders: 1" in message
    assert "bad/notes0.txt" in message and "and 5 more" in message  # ten named
    assert data.skipped[str(tmp_path / "good" / "anim.gif")] == "type"
    assert len(data.skipped) == 15 and data.skipped[str(tmp_path / "loose.png")] == "loose"


def test_nothing_skipped_no_warning(folder):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ImageFolderWarning)
        assert load_image_folder(folder[0] / "test").skipped == {}


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


# ----------------------------------------------------------------------
# 16-bit images keep their values.
# ----------------------------------------------------------------------
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


# ----------------------------------------------------------------------
# Labels from folder names: a stated rule, and overrides.
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, normal",
    [
        ("good", True),
        ("GOOD_samples", True),
        ("normal_parts", True),
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
        ("Abnormal", False),
        ("scratch", False),
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


# ----------------------------------------------------------------------
# MVTec AD layout with ground-truth masks; synthetic defects
# ----------------------------------------------------------------------
@pytest.fixture
def mvtec(tmp_path):
    """MVTec layout, 8x8: 3 good test images, 2 'blob' and 1 'scratch' with masks."""
    rng = np.random.default_rng(0)
    X_test = rng.integers(0, 100, size=(6, 8, 8), dtype=np.uint8)
    masks = np.zeros((6, 8, 8), dtype=bool)
    masks[1, 2:4, 3:6] = masks[3, 5:, :2] = masks[4, 0, :] = True
    X_test[masks] = 255
    types = ["good", "blob", "good", "blob", "scratch", "good"]
    root = write_mvtec_folder(tmp_path / "part", X_test[[0, 2]], X_test, types, masks)
    return root, X_test, masks, types


def test_mvtec_masks_are_aligned_with_the_images(mvtec):
    root, X_test, masks, types = mvtec
    data = load_image_folder(root / "test", return_masks=True)
    assert data.classes == ["blob", "good", "scratch"]
    assert data.masks.shape == (6, 8, 8) and data.masks.dtype == bool
    # Each image row has its own mask: the bright pixels are the defect.
    np.testing.assert_array_equal(data.masks, data.images[:, 0] == 1.0)
    np.testing.assert_array_equal(data.target, data.masks.any(axis=(1, 2)))
    assert sorted(map(tuple, data.masks.reshape(6, -1))) == sorted(
        map(tuple, masks.reshape(6, -1))
    )
    assert not data.masks[data.target == 0].any()  # normal images: all-zero masks
    # The training folder holds only good images, whose masks are all zero.
    assert not load_image_folder(
        root / "train", mask_dir=root / "ground_truth", return_masks=True
    ).masks.any()


def test_mvtec_masks_resize_by_nearest_neighbour(mvtec):
    root = mvtec[0]
    small = load_image_folder(root / "test", return_masks=True)
    big = load_image_folder(root / "test", image_size=16, return_masks=True)
    assert big.images.shape == (6, 1, 16, 16) and big.masks.shape == (6, 16, 16)
    np.testing.assert_array_equal(big.masks, small.masks.repeat(2, axis=1).repeat(2, axis=2))
    odd = load_image_folder(root / "test", image_size=(5, 11), return_masks=True)
    assert odd.masks.shape == (6, 5, 11) and odd.masks[odd.target == 1].any(axis=(1, 2)).all()


def test_mvtec_without_masks_keeps_the_old_result(mvtec, folder):
    root = mvtec[0]
    assert "masks" not in load_image_folder(root / "test")
    # No ground_truth/ beside test/: masks is None, the rest as before.
    plain = load_image_folder(folder[0] / "test", return_masks=True)
    assert plain.masks is None and plain.target.tolist() == [0, 0, 0, 1, 1]
    flat = load_image_folder(root / "test" / "blob", return_masks=True)
    assert flat.masks is None and flat.target is None


def test_mvtec_mask_file_names_and_errors(mvtec, tmp_path):
    root = mvtec[0]
    gt = root / "ground_truth"
    (gt / "blob" / "001_mask.png").rename(gt / "blob" / "001.png")  # a bare name also works
    assert load_image_folder(root / "test", return_masks=True).masks.sum() == 6 + 6 + 8
    (gt / "blob" / "001.png").unlink()
    with pytest.raises(ValueError, match=r"no ground-truth mask .*blob/001\.png.*001_mask\.png"):
        load_image_folder(root / "test", return_masks=True)
    Image.new("L", (9, 8)).save(gt / "blob" / "001_mask.png")
    with pytest.raises(ValueError, match=r"mask .*001_mask\.png is 8x9 but its image .* is 8x8"):
        load_image_folder(root / "test", return_masks=True)
    with pytest.raises(FileNotFoundError, match="mask folder .* does not exist"):
        load_image_folder(root / "test", return_masks=True, mask_dir=tmp_path / "none")


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


# ----------------------------------------------------------------------
# One-class splits
# ----------------------------------------------------------------------
@pytest.fixture
def labelled():
    # distinct values in train and test, so a leak shows
    y_train = np.repeat(np.arange(3), 4)
    y_test = np.repeat(np.arange(3), 2)
    X_train = np.arange(12)[:, None] * np.ones((1, 2))
    X_test = 100 + np.arange(6)[:, None] * np.ones((1, 2))
    return X_train, y_train, X_test, y_test


def test_one_class_split(labelled):
    X_train, y_train, X_test, y_test = labelled
    X_fit, X_eval, y_eval = one_class_split(X_train, y_train, X_test, y_test, 1)
    np.testing.assert_array_equal(X_fit[:, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(X_eval, X_test)
    np.testing.assert_array_equal(y_eval, [1, 1, 0, 0, 1, 1])
    assert not np.isin(X_fit, X_eval).any()


def test_one_class_anomaly_split(labelled):
    X_train, y_train, X_test, y_test = labelled
    X_fit, X_eval, y_eval = one_class_anomaly_split(X_train, y_train, X_test, y_test, 2)
    np.testing.assert_array_equal(X_fit[:, 0], np.arange(8))
    np.testing.assert_array_equal(X_eval, X_test)
    np.testing.assert_array_equal(y_eval, [0, 0, 0, 0, 1, 1])
    assert not np.isin(X_fit, X_eval).any()


@pytest.mark.parametrize("split", [one_class_split, one_class_anomaly_split])
def test_split_errors(split, labelled):
    X_train, y_train, X_test, y_test = labelled
    with pytest.raises(ValueError, match="not among the training labels"):
        split(X_train, y_train, X_test, y_test, 7)
    with pytest.raises(ValueError, match="one label per row of X_test"):
        split(X_train, y_train, X_test, y_test[:-1], 0)
