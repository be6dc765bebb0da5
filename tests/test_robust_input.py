"""Inputs that used to give silently wrong results: glitch rows, channels-last
images, mislabelled plots, wrapper attributes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import (
    check_n_features_in,
    check_n_features_in_after_fitting,
)

import skanomaly
from skanomaly import GANomalyDetector
from skanomaly.plot import plot_reconstructions, plot_score_histogram, reconstruction_grid
from skanomaly.pyod import PyODDetector

from .conftest import fast


def _blobs_auc(glitch: bool) -> float:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    if glitch:
        X[0] = 1e4  # one sensor glitch among 300 normal rows
    inliers = rng.normal(size=(200, 6))
    outliers = rng.uniform(4, 6, size=(40, 6)) * rng.choice([-1, 1], size=(40, 6))
    detector = fast(GANomalyDetector, n_epochs=30, batch_size=64).fit(X)
    scores = -detector.score_samples(np.r_[inliers, outliers])
    return roc_auc_score(np.r_[np.zeros(200), np.ones(40)], scores)


def test_one_glitch_row_does_not_break_tabular_scaling():
    clean, glitched = _blobs_auc(False), _blobs_auc(True)
    # Plain mean/std scaling: 0.95 clean, 0.54 glitched here (0.047 in the run).
    assert clean > 0.9 and glitched > 0.85 and glitched > clean - 0.08, (clean, glitched)


def test_scaling_is_robust_and_bounded(detector_class):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    X[0, 1] = 1e6
    detector = fast(detector_class, hidden_dims=(8,)).fit(X)
    low, high = detector.input_bounds_
    assert np.all(high - low < 30) and np.all(np.abs(detector.shift_) < 0.5)
    np.testing.assert_allclose(detector.scale_, 1.0, atol=0.3)  # mean/std: 70,000
    # Far-out rows still score as far out: saturated at the bounds, not dropped.
    scores = detector.score_samples(np.array([[0.0, 0.0, 0.0], [0.0, 1e6, 0.0]]))
    assert scores[1] < scores[0]


def test_mostly_constant_feature_keeps_its_variation():
    X = np.zeros((200, 2))
    X[:, 0] = np.random.default_rng(0).normal(size=200)
    X[:5, 1] = 3.0  # 2.5 % of rows: interquartile range 0
    detector = fast(GANomalyDetector, hidden_dims=(8,)).fit(X)
    assert detector.input_bounds_[1, 1] >= 3.0


def test_channels_last_images_are_named(detector_class):
    X = np.random.default_rng(0).random((6, 16, 16, 3))
    with pytest.raises(ValueError, match=r"looks channels-last .*np.moveaxis\(X, -1, 1\)"):
        fast(detector_class).fit(X)
    detector = fast(detector_class, n_filters=4).fit(np.moveaxis(X, -1, 1))
    with pytest.raises(ValueError, match="channels-last"):
        detector.score_samples(X)


@pytest.fixture(scope="module")
def image_model():
    X = np.random.default_rng(0).random((16, 1, 8, 8))
    return fast(GANomalyDetector, n_filters=4).fit(X), X


@pytest.mark.parametrize("shape", [(3, 1, 9, 9), (3, 81), (3, 2, 8, 8), (3, 8, 9)])
def test_pictures_refuse_images_of_the_wrong_size(image_model, shape):
    detector, _ = image_model
    X = np.zeros(shape)
    for draw in (plot_reconstructions, reconstruction_grid):
        with pytest.raises(ValueError, match="do not match the GANomalyDetector"):
            draw(detector, X)


def test_pictures_take_every_layout_of_the_right_size(image_model):
    detector, X = image_model
    for images in (X[:2], X[:2, 0], X[:2].reshape(2, -1)):
        assert len(plot_reconstructions(detector, images).axes) == 6


def test_score_histogram_refuses_labels_it_would_drop():
    with pytest.raises(ValueError, match=r"got \[-1\].*pass y == -1"):
        plot_score_histogram([0.1, 0.2, 0.9], [0, -1, 1])
    with pytest.raises(ValueError, match="shape"):
        plot_score_histogram([0.1, 0.2, 0.9], [0, 1])
    fig = plot_score_histogram([0.1, 0.2, 0.9], np.array([1, 1, -1]) == -1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["normal (2)", "anomaly (1)"]


def test_pyod_wrapper_exposes_n_features_in(blobs):
    wrapper = PyODDetector(fast(GANomalyDetector, hidden_dims=(8,)))
    check_n_features_in("PyODDetector", wrapper)
    check_n_features_in_after_fitting("PyODDetector", wrapper)
    fitted = PyODDetector(fast(GANomalyDetector, hidden_dims=(8,))).fit(blobs[0])
    assert fitted.n_features_in_ == 4


def test_pyod_wrapper_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)), columns=["a", "b", "c"])
    fitted = PyODDetector(fast(GANomalyDetector, hidden_dims=(8,))).fit(X)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]


def test_tampered_bounds_are_refused(tmp_path, blobs):
    import hashlib
    import io
    import json
    import zipfile

    detector = fast(GANomalyDetector, hidden_dims=(8,)).fit(blobs[0])
    path = tmp_path / "m.skan"
    skanomaly.save(detector, path)
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(contents.pop("manifest.json"))
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = manifest["fitted"]["input_bounds_"]["array"]
    arrays[key] = arrays[key][::-1].copy()  # lower above upper
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    contents["arrays.npz"] = buffer.getvalue()
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in contents.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match="input_bounds_ is not"):
        skanomaly.load(path)
