"""load_image_folder: the layouts, what is read and skipped, labels, MVTec masks, errors."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
from PIL import Image

from skanomaly.datasets import (
    is_normal_class,
    load_image_folder,
    write_image_folder,
    write_mvtec_folder,
)
from skanomaly.exceptions import ImageFolderWarning


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


# ----------------------------------------------------------------------
# What is read: regular files, each once; hidden and other entries skipped.
# ----------------------------------------------------------------------
def _grey(folder, name, value=100, size=(9, 9)):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(folder / name)


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
# MVTec AD layout with ground-truth masks
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
