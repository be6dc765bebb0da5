"""Valid input of every kind: layouts, units, extreme values, robust scaling.

What the detectors accept and how they scale it; the inputs they refuse are
in ``test_input_validation.py``. Each test runs for every detector.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from skanomaly import GANomalyDetector
from skanomaly.exceptions import ConstantFeatureWarning

from .conftest import fast

ROWS_48 = np.random.default_rng(1).normal(size=(48, 4))


@pytest.mark.parametrize("layout", ["4d", "3d", "flat"])
def test_image_layouts_round_trip_shapes(detector_class, digits_images, layout):
    X, _ = digits_images
    X = X[:64]
    inputs = {"4d": X, "3d": X[:, 0], "flat": X.reshape(len(X), -1)}[layout]
    params = {"image_shape": (8, 8)} if layout == "flat" else {}
    detector = fast(detector_class, n_filters=8, **params).fit(inputs)
    assert detector.image_shape_ == (1, 8, 8)
    assert detector.reconstruct(inputs).shape == inputs.shape
    residual = detector.anomaly_map(inputs)
    assert residual.shape == inputs.shape and residual.dtype == np.float64
    assert (residual >= 0).all()
    # Reconstructions come back in the input's units (digits pixels are 0..16).
    assert detector.reconstruct(inputs).max() <= 16.0 + 1e-6


@pytest.mark.parametrize("shape", [(3, 12, 12), (1, 10, 21)])
def test_color_and_non_square_images(detector_class, shape):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 255, size=(20, *shape))
    detector = fast(detector_class, n_filters=4).fit(X)
    assert detector.image_shape_ == shape
    assert detector.anomaly_map(X[:3]).shape == (3, *shape)
    assert np.isfinite(detector.score_samples(X)).all()


def test_tabular_reconstruction_units(detector_class, blobs):
    inliers, _ = blobs
    data = inliers * 1000 + 5000
    detector = fast(detector_class, n_epochs=20).fit(data)
    reconstruction = detector.reconstruct(data)
    assert reconstruction.shape == data.shape
    # In the input's units: far closer to the data than to the origin.
    assert np.abs(reconstruction - data).mean() < np.abs(data).mean() / 4
    np.testing.assert_allclose(detector.anomaly_map(data), np.abs(data - reconstruction))


def test_constant_feature_is_harmless_and_named(detector_class, blobs):
    inliers, _ = blobs
    X = np.column_stack([inliers, np.full(len(inliers), 3.0)])
    with pytest.warns(ConstantFeatureWarning, match=r"1 of the 5 features .*\(feature 4\)"):
        detector = fast(detector_class).fit(X)
    assert np.isfinite(detector.score_samples(X)).all()
    assert detector.scale_[4] == 1.0


@pytest.mark.parametrize("units", [1e-15, 1e-200, 1e15, 1e200])
def test_scaling_is_unit_free(units):
    # A feature in tiny or huge units is a feature like any other: every
    # feature of the table in its own units gives the same fit, bit for bit.
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 4))
    X_test = np.vstack([rng.normal(size=(10, 4)), rng.normal(4, 1, size=(5, 4))])
    factors = np.array([units, 1.0, 1 / units, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConstantFeatureWarning)  # none is constant
        reference = fast(GANomalyDetector).fit(X)
        rescaled = fast(GANomalyDetector).fit(X * factors)
    np.testing.assert_allclose(rescaled.scale_, reference.scale_ * factors, rtol=1e-12)
    np.testing.assert_array_equal(
        rescaled.score_samples(X_test * factors), reference.score_samples(X_test)
    )


def test_one_wild_row_does_not_break_training(detector_class):
    # One glitch row at 3e4 among 1,000 normal rows: clipped to the robust
    # bounds, then left out of the updates by robust training.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    wild = X.copy()
    wild[0] = 3e4
    X_test = np.vstack([rng.normal(size=(300, 4)), rng.normal(5, 0.5, size=(30, 4))])
    y_test = np.r_[np.zeros(300), np.ones(30)]
    aucs = [
        roc_auc_score(y_test, -fast(detector_class, n_epochs=10).fit(data).score_samples(X_test))
        for data in (X, wild)
    ]
    assert aucs[1] > 0.98 and aucs[1] > aucs[0] - 0.01, aucs


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


def test_rows_beyond_the_training_bounds_are_scored_unclipped(detector_class, blobs):
    # Training rows are clipped to input_bounds_ (a glitch row cannot
    # dominate the scaling); rows to score are not, or every outlier beyond
    # the bounds would score like a row on them.
    # The reconstruction residual, the term that grows with the distance.
    residual_only = (
        {"disc_weight": 0.0}
        if "disc_weight" in detector_class._get_param_names()
        else {"anomaly_score": "reconstruction"}
    )
    detector = fast(detector_class, n_epochs=10, **residual_only).fit(blobs[0])
    high = detector.input_bounds_[1]
    scores = -detector.score_samples(np.vstack([high, 3 * high, 10 * high]))
    assert scores[0] < scores[1] < scores[2]


# ----------------------------------------------------------------------
# Finite input, finite output.
# ----------------------------------------------------------------------
@pytest.fixture(params=["tabular", "images"])
def fitted(request, detector_class, fitted_tabular, fitted_image, blobs, digits_images):
    """A shared fitted detector (read only) and some of its training data."""
    if request.param == "tabular":
        return fitted_tabular[detector_class], blobs[0][:48]
    return fitted_image[detector_class], digits_images[0][:32]


@pytest.mark.parametrize(
    "value", [1e6, 1e30, 1e300, np.finfo(np.float64).max, -np.finfo(np.float64).max]
)
def test_huge_finite_inputs_give_finite_scores(fitted, value):
    detector, X = fitted
    X_test = np.r_[X[:4], np.full((1, *X.shape[1:]), value)]
    alternating = X[:1] * 0 + value * np.where(np.arange(X[0].size) % 2, 1, -1).reshape(X[0].shape)
    X_test = np.r_[X_test, alternating]
    with np.errstate(all="raise"):  # no overflow warnings either
        scores = detector.score_samples(X_test)
        decision = detector.decision_function(X_test)
        reconstruction = detector.reconstruct(X_test)
    assert np.all(np.isfinite(scores)) and np.all(np.isfinite(decision))
    assert np.all(np.isfinite(reconstruction))
    np.testing.assert_array_equal(detector.score_samples(X[:4]), scores[:4])


def test_huge_float32_input_gives_finite_scores(fitted):
    detector, X = fitted
    X_test = np.full((2, *X.shape[1:]), np.finfo(np.float32).max, dtype=np.float32)
    assert np.all(np.isfinite(detector.score_samples(X_test)))


def test_training_on_huge_finite_values_matches_training_on_the_same_data_rescaled(
    detector_class,
):
    # Standardisation makes the fit scale-free; near the float64 limit its
    # statistics must not overflow (which would turn every row into zeros).
    small = fast(detector_class, hidden_dims=(8,)).fit(ROWS_48)
    huge = fast(detector_class, hidden_dims=(8,)).fit(ROWS_48 * 1e300)
    np.testing.assert_allclose(huge.scale_, small.scale_ * 1e300, rtol=1e-12)
    np.testing.assert_allclose(
        huge.score_samples(ROWS_48 * 1e300), small.score_samples(ROWS_48), rtol=1e-4, atol=1e-6
    )
