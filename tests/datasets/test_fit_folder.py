"""Training on an image folder streamed from disk: ``ImageFolderDataset`` and ``fit_folder``.

The streamed fit reads the images batch by batch but trains exactly as
``fit`` on the array ``load_image_folder`` returns: the same model, bit for
bit. Its folder rules and errors are ``load_image_folder``'s.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from PIL import Image

import skanomaly.datasets
from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly.cli import main
from skanomaly.datasets import (
    ImageFolderDataset,
    fit_folder,
    load_image_folder,
    write_image_folder,
)
from skanomaly.exceptions import ImageFolderWarning

from ..conftest import fast

TINY = {"n_epochs": 2, "n_filters": 4, "batch_size": 8}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """20 RGB 12x10 training images in a class folder, 6 test images."""
    rng = np.random.default_rng(0)
    root = write_image_folder(
        tmp_path_factory.mktemp("stream") / "parts",
        rng.random((20, 3, 12, 10)),
        rng.random((6, 3, 12, 10)),
        [0, 0, 0, 1, 1, 1],
    )
    return root


def test_the_dataset_reads_what_load_image_folder_reads(folder):
    for path, options in [
        (folder / "train", {}),
        (folder / "test", {"image_size": (8, 9), "grayscale": True}),
    ]:
        loaded = load_image_folder(path, **options)
        images = ImageFolderDataset(path, **options)
        assert len(images) == len(loaded.images)
        assert images.paths == loaded.paths and images.classes == loaded.classes
        assert images.skipped == loaded.skipped
        np.testing.assert_array_equal(images.target, loaded.target)
        for i in range(len(images)):
            np.testing.assert_array_equal(images[i], loaded.images[i])
        shape, low, high = images.scan()
        assert shape == loaded.images.shape[1:]
        assert (low, high) == (loaded.images.min(), loaded.images.max())


def test_the_dataset_pickles_for_worker_processes(folder):
    images = ImageFolderDataset(folder / "train")
    copy = pickle.loads(pickle.dumps(images))
    assert type(copy) is ImageFolderDataset and copy.paths == images.paths
    np.testing.assert_array_equal(copy[3], images[3])


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (GANomalyDetector, {}),
        (AnoGANDetector, {"latent_steps": 5}),
        (EGBADDetector, {"early_stopping": True, "validation_fraction": 0.2}),
    ],
    ids=["GANomaly", "AnoGAN", "EGBAD-early-stopping"],
)
def test_streamed_fit_is_the_in_memory_fit(folder, cls, params):
    X = load_image_folder(folder / "train").images
    in_memory = fast(cls, **TINY, **params).fit(X)
    streamed = fit_folder(fast(cls, **TINY, **params), folder / "train")
    test = load_image_folder(folder / "test").images
    np.testing.assert_array_equal(streamed.score_samples(test), in_memory.score_samples(test))
    np.testing.assert_array_equal(streamed.decision_scores_, in_memory.decision_scores_)
    assert streamed.offset_ == in_memory.offset_
    assert streamed.history_ == in_memory.history_
    np.testing.assert_array_equal(streamed.shift_, in_memory.shift_)
    assert streamed.image_shape_ == (3, 12, 10) and streamed.n_features_in_ == 360
    assert not hasattr(streamed, "feature_names_in_")


def test_worker_processes_change_nothing(folder):
    """The workers read ahead; the model is the same (they do not touch torch's generator)."""
    one = fit_folder(fast(AnoGANDetector, **TINY, latent_steps=5), folder / "train")
    images = ImageFolderDataset(folder / "train")
    two = fit_folder(fast(AnoGANDetector, **TINY, latent_steps=5), images, num_workers=2)
    np.testing.assert_array_equal(one.decision_scores_, two.decision_scores_)


def test_fit_folder_takes_reading_options_and_returns_a_working_detector(folder):
    detector = fit_folder(
        fast(GANomalyDetector, **TINY), folder / "test", image_size=8, grayscale=True
    )
    assert detector.image_shape_ == (1, 8, 8)
    test = load_image_folder(folder / "test", image_size=8, grayscale=True).images
    assert set(detector.predict(test)) <= {-1, 1}
    assert detector.decision_function(test).dtype == np.float64


def test_the_image_shape_parameter_is_checked(folder):
    with pytest.raises(
        ValueError, match=r"image_shape=\(1, 12, 10\) does not match .* \(3, 12, 10\)"
    ):
        fit_folder(fast(GANomalyDetector, **TINY, image_shape=(1, 12, 10)), folder / "train")


def test_errors_are_one_clear_line(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fit_folder(GANomalyDetector(), tmp_path / "nowhere")
    with pytest.raises(TypeError, match="takes a folder or an ImageFolderDataset, got ndarray"):
        fit_folder(GANomalyDetector(), np.zeros((4, 1, 8, 8)))
    with pytest.raises(ValueError, match="not with an ImageFolderDataset"):
        fit_folder(GANomalyDetector(), ImageFolderDataset(folder / "train"), image_size=8)
    (tmp_path / "one").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "one" / "a.png")
    with pytest.raises(ValueError, match="holds 1 image; training needs at least 2"):
        fit_folder(GANomalyDetector(), tmp_path / "one")
    # Sizes differ: load_image_folder's message, found by the streamed scan.
    Image.new("L", (9, 8)).save(tmp_path / "one" / "b.png")
    detector = fast(GANomalyDetector, **TINY)
    with pytest.raises(ValueError, match=r"differ in size.*b.png is 8x9.*image_size") as info:
        fit_folder(detector, tmp_path / "one")
    assert "\n" not in str(info.value)
    assert not [k for k in vars(detector) if k.endswith("_")]


def test_warnings_come_once(tmp_path):
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[:4, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.warns(ImageFolderWarning, match="ImageFolderDataset skipped 1 entry") as record:
        images = ImageFolderDataset(tmp_path)
    assert len(record) == 1
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit_folder(fast(GANomalyDetector, **TINY), images)
    transparent = [w for w in record if "transparent" in str(w.message)]
    assert len(transparent) == 1 and str(transparent[0].message).endswith("a.png")


def test_skanomaly_train_streams_the_folder(folder, tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("skanomaly train loaded the whole folder")

    monkeypatch.setattr(skanomaly.datasets, "load_image_folder", refuse)
    model = tmp_path / "m.skan"
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(model)]
    tiny = ["--epochs", "1", "--n-filters", "4", "--batch-size", "8", "--quiet"]
    assert main([*argv, *tiny, "--workers", "1"]) == 0
    assert "on 20 images (3x12x10)" in capsys.readouterr().out
    assert skanomaly.load(model).image_shape_ == (3, 12, 10)
    assert main([*argv, *tiny, "--workers", "-1"]) == 1
    assert "--workers must be in [0, 64], got -1" in capsys.readouterr().err
