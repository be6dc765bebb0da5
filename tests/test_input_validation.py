"""Bad input and bad parameters: a clear ValueError / TypeError each time.

Every row of the tables below names the input, the exception and (part of)
its message; no torch stack trace or numpy reshape error may leak out. Each
runs for every detector; a detector's own parameters are checked here too.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly.exceptions import ModelTooLargeError

from .conftest import fast

FIT_METHODS = ["fit", "fit_predict"]
SCORE_METHODS = ["score_samples", "decision_function", "predict", "reconstruct", "anomaly_map"]

_rng = np.random.default_rng(0)
ROWS = _rng.normal(size=(24, 4))  # tabular: 4 features
IMAGES = _rng.normal(size=(24, 1, 8, 8))  # grey 8x8 images


def named_cases(argnames: str, cases: list[tuple]):
    """``parametrize`` over ``(test id, *values)`` tuples."""
    return pytest.mark.parametrize(argnames, [c[1:] for c in cases], ids=[c[0] for c in cases])


def _with(X, index, value):
    X = X.copy()
    X[index] = value
    return X


# (case id, input, exception, message) -- for both fitting and scoring a
# model fitted on ROWS (or on IMAGES for the image cases).
TABULAR_CASES = [
    ("nan", _with(ROWS, (0, 0), np.nan), ValueError, "Input X contains NaN"),
    ("inf", _with(ROWS, (1, 2), np.inf), ValueError, "Input X contains infinity"),
    ("-inf", _with(ROWS, (1, 2), -np.inf), ValueError, "Input X contains infinity"),
    ("sparse", sp.csr_matrix(ROWS), TypeError, "Sparse data was passed for X, but dense data"),
    (
        "strings",
        np.array([["a", "b", "c", "d"]] * 3, dtype=object),
        ValueError,
        "could not convert string to float",
    ),
    ("complex", ROWS + 1j, ValueError, "Complex data not supported"),
    ("empty", np.empty((0, 4)), ValueError, r"Found array with 0 sample\(s\)"),
    ("no features", np.empty((5, 0)), ValueError, r"Found array with 0 feature\(s\)"),
    ("1-D", ROWS[0], ValueError, "Expected 2D array, got 1D array instead"),
    ("scalar", 3.0, ValueError, "Expected 2D array, got scalar array instead"),
    ("5-D", np.zeros((2, 1, 1, 8, 8)), ValueError, "Expected a 2-D, 3-D or 4-D array, got 5-D"),
    ("ragged", [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], ValueError, "inhomogeneous shape"),
]
IMAGE_CASES = [
    ("image nan", _with(IMAGES, (0, 0, 3, 3), np.nan), ValueError, "Input X contains NaN"),
    ("image inf", _with(IMAGES, (0, 0, 3, 3), np.inf), ValueError, "Input X contains infinity"),
    ("image empty", np.empty((0, 1, 8, 8)), ValueError, r"Found array with 0 sample\(s\)"),
    (
        "image strings",
        np.full((3, 1, 8, 8), "x", dtype=object),
        ValueError,
        "could not convert string to float",
    ),
]


@pytest.fixture
def tabular_model(detector_class, fitted_tabular):
    """A detector fitted on 4-feature rows (shared: read only)."""
    return fitted_tabular[detector_class]


@pytest.fixture
def image_model(detector_class, fitted_image):
    """A detector fitted on 1x8x8 images (shared: read only)."""
    return fitted_image[detector_class]


def _assert_unfitted(detector):
    with pytest.raises(NotFittedError):
        check_is_fitted(detector)


# ----------------------------------------------------------------------
# Fitting.
# ----------------------------------------------------------------------
FIT_CASES = (
    TABULAR_CASES
    + IMAGE_CASES
    + [
        ("one sample", ROWS[:1], ValueError, r"Found array with 1 sample\(s\).*minimum of 2"),
        ("one image", IMAGES[:1], ValueError, r"Found array with 1 sample\(s\).*minimum of 2"),
        (
            "image smaller than 8x8",
            _rng.normal(size=(6, 1, 7, 9)),
            ValueError,
            "images must be at least 8x8 pixels, got 7x9",
        ),
        (
            "3-D image smaller than 8x8",
            np.zeros((6, 8, 4)),
            ValueError,
            "at least 8x8 pixels, got 8x4",
        ),
    ]
)


@pytest.mark.parametrize("method", FIT_METHODS)
@named_cases("X, error, match", FIT_CASES)
def test_fit_rejects_bad_input(detector_class, method, X, error, match):
    detector = fast(detector_class)
    with pytest.raises(error, match=match):
        getattr(detector, method)(X)
    _assert_unfitted(detector)


# (case id, constructor parameters, X, exception, message)
PARAM_CASES = [
    (
        "contamination 0",
        {"contamination": 0},
        ROWS,
        "'contamination' parameter.*range \\(0.0, 0.5\\]",
    ),
    ("contamination 0.7", {"contamination": 0.7}, ROWS, "'contamination' parameter.*Got 0.7"),
    ("contamination other string", {"contamination": "fence"}, ROWS, "'contamination' parameter"),
    ("n_epochs 0", {"n_epochs": 0}, ROWS, "'n_epochs' parameter.*Got 0"),
    ("n_epochs text", {"n_epochs": "many"}, ROWS, "'n_epochs' parameter.*'many'"),
    ("n_epochs float", {"n_epochs": 2.5}, ROWS, "'n_epochs' parameter.*Got 2.5"),
    ("batch_size 1", {"batch_size": 1}, ROWS, "'batch_size' parameter.*range \\[2, inf\\)"),
    ("learning_rate 0", {"learning_rate": 0.0}, ROWS, "'learning_rate' parameter.*Got 0.0"),
    ("learning_rate -1", {"learning_rate": -1}, ROWS, "'learning_rate' parameter.*Got -1"),
    ("latent_dim 0", {"latent_dim": 0}, ROWS, "'latent_dim' parameter.*Got 0"),
    ("hidden_dims empty", {"hidden_dims": []}, ROWS, "hidden_dims must be a non-empty sequence"),
    ("hidden_dims 0", {"hidden_dims": [8, 0]}, ROWS, "hidden_dims must be .* positive integers"),
    ("hidden_dims -2", {"hidden_dims": (8, -2)}, ROWS, "hidden_dims must be .* positive integers"),
    ("hidden_dims text", {"hidden_dims": "ab"}, ROWS, "'hidden_dims' parameter.*'ab'"),
    ("n_filters 0", {"n_filters": 0}, IMAGES, "'n_filters' parameter.*Got 0"),
    ("image_shape 4-D", {"image_shape": (1, 2, 3, 4)}, ROWS, "image_shape must be \\(C, H, W\\)"),
    ("image_shape 0", {"image_shape": (0, 8)}, ROWS, "image_shape must be .* positive integers"),
    (
        "image_shape vs features",
        {"image_shape": (8, 8)},
        ROWS,
        "image_shape=\\(8, 8\\) has 64 values per image, but X has 4 features",
    ),
    (
        "image_shape vs images",
        {"image_shape": (3, 8, 8)},
        IMAGES,
        "image_shape=\\(3, 8, 8\\) does not match the shape of the images in X, \\(1, 8, 8\\)",
    ),
    (
        "image_shape too small",
        {"image_shape": (2, 2)},
        ROWS,
        "images must be at least 8x8 pixels, got 2x2",
    ),
    ("device tpu", {"device": "tpu"}, ROWS, "device='tpu' is not a valid torch device"),
    ("device number", {"device": 3}, ROWS, "'device' parameter.*Got 3"),
    ("random_state text", {"random_state": "seed"}, ROWS, "'random_state' parameter"),
    ("verbose -1", {"verbose": -1}, ROWS, "'verbose' parameter.*Got -1"),
    ("validation_fraction 1", {"validation_fraction": 1.0}, ROWS, "'validation_fraction'"),
    ("n_iter_no_change 0", {"n_iter_no_change": 0}, ROWS, "'n_iter_no_change' parameter"),
    ("tol -1", {"tol": -1.0}, ROWS, "'tol' parameter"),
    ("early_stopping text", {"early_stopping": "yes"}, ROWS, "'early_stopping' parameter"),
]


@named_cases("params, X, match", PARAM_CASES)
def test_fit_rejects_bad_parameters(detector_class, params, X, match):
    detector = fast(detector_class, **params)
    with pytest.raises((ValueError, TypeError), match=match):
        detector.fit(X)
    _assert_unfitted(detector)


# Parameters only some detectors have: (class, parameters, message).
OWN_PARAM_CASES = [
    (AnoGANDetector, {"latent_steps": -1}, "'latent_steps' parameter"),
    (AnoGANDetector, {"latent_lr": 0.0}, "'latent_lr' parameter"),
    (AnoGANDetector, {"disc_weight": 1.5}, "'disc_weight' parameter"),
    (EGBADDetector, {"disc_score": "score"}, "'disc_score' parameter"),
    (EGBADDetector, {"disc_score": "fm"}, "'disc_score' parameter"),
    (GANomalyDetector, {"anomaly_score": "both"}, "'anomaly_score' parameter"),
]


@pytest.mark.parametrize(
    "cls, params, match",
    OWN_PARAM_CASES,
    ids=[f"{cls.__name__}-{k}={v!r}" for cls, p, _ in OWN_PARAM_CASES for k, v in p.items()],
)
def test_fit_rejects_bad_detector_parameters(cls, params, match):
    detector = fast(cls, **params)
    with pytest.raises(ValueError, match=match):
        detector.fit(ROWS)
    _assert_unfitted(detector)


def test_cuda_request_without_cuda(detector_class, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    detector = fast(detector_class, device="cuda")
    with pytest.raises(ValueError, match="device='cuda' was requested but CUDA is not available"):
        detector.fit(ROWS)
    _assert_unfitted(detector)


def test_early_stopping_needs_rows_on_both_sides(detector_class):
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="validation_fraction=0.05 leaves too few rows"):
        fast(detector_class, early_stopping=True, validation_fraction=0.05).fit(X)


def test_channels_last_images_are_named(detector_class):
    X = np.random.default_rng(0).random((6, 16, 16, 3))
    with pytest.raises(ValueError, match=r"looks channels-last .*np.moveaxis\(X, -1, 1\)"):
        fast(detector_class).fit(X)
    detector = fast(detector_class, n_filters=4).fit(np.moveaxis(X, -1, 1))
    with pytest.raises(ValueError, match="channels-last"):
        detector.score_samples(X)


def test_fit_refuses_images_whose_networks_cannot_fit(detector_class):
    # 8x4096 pads to 4096x4096: refused before the networks are built, on a
    # refit too.
    with pytest.raises(ModelTooLargeError, match=r"padded to 4096x4096.*image_size"):
        fast(detector_class).fit(np.zeros((4, 1, 8, 4096)))
    detector = fast(detector_class).fit(np.random.default_rng(0).random((4, 1, 8, 8)))
    with pytest.raises(ModelTooLargeError):
        detector.fit(np.zeros((4, 1, 8, 4096)))


def test_fit_rejects_negative_loss_weights(detector_class):
    # Each detector's own weights: all are non-negative floats.
    weights = [p for p in detector_class._get_param_names() if p.endswith("_weight")]
    for name in weights:
        with pytest.raises(ValueError, match=f"'{name}' parameter.*Got -1.0"):
            fast(detector_class, **{name: -1.0}).fit(ROWS)


# ----------------------------------------------------------------------
# Scoring, reconstructing and mapping.
# ----------------------------------------------------------------------
TABULAR_SCORE_CASES = TABULAR_CASES + [
    (
        "wrong feature count",
        ROWS[:, :3],
        ValueError,
        "X has 3 features, but .* is expecting 4 features as input",
    ),
    (
        "images to a tabular model",
        IMAGES[:3],
        ValueError,
        "was fitted on tabular data with 4 features, got images of shape \\(1, 8, 8\\)",
    ),
]


IMAGE_SCORE_CASES = IMAGE_CASES + [
    (
        "wrong image shape",
        _rng.normal(size=(3, 1, 8, 9)),
        ValueError,
        "wrong image shape: .* fitted on images of shape \\(C, H, W\\) = \\(1, 8, 8\\), "
        "got \\(1, 8, 9\\)",
    ),
    (
        "wrong channel count",
        _rng.normal(size=(3, 3, 8, 8)),
        ValueError,
        "wrong image shape: .* got \\(3, 8, 8\\)",
    ),
    (
        "image smaller than 8x8",
        _rng.normal(size=(3, 7, 7)),
        ValueError,
        "wrong image shape: .* got \\(1, 7, 7\\)",
    ),
    (
        "3-D image larger than fitted",
        _rng.normal(size=(3, 9, 9)),
        ValueError,
        "wrong image shape: .* got \\(1, 9, 9\\)",
    ),
    (
        "flat rows of the wrong length",
        _rng.normal(size=(3, 63)),
        ValueError,
        "X has 63 features, but .* is expecting 64 features",
    ),
]


# (case id, what the model was fitted on, X, exception, message)
SCORE_CASES = [(name, "tabular", *case) for name, *case in TABULAR_SCORE_CASES] + [
    (name, "image", *case) for name, *case in IMAGE_SCORE_CASES
]


@pytest.mark.parametrize("method", SCORE_METHODS)
@named_cases("fitted_on, X, error, match", SCORE_CASES)
def test_scoring_rejects_bad_input(tabular_model, image_model, fitted_on, method, X, error, match):
    model = tabular_model if fitted_on == "tabular" else image_model
    with pytest.raises(error, match=match):
        getattr(model, method)(X)


@pytest.mark.parametrize("method", SCORE_METHODS)
def test_scoring_an_unfitted_detector(detector_class, method):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(fast(detector_class), method)(ROWS)


@pytest.mark.parametrize("method", SCORE_METHODS)
def test_one_sample_and_other_layouts_are_accepted(tabular_model, image_model, method):
    # The counterpart of the tables: valid edge cases must not be rejected.
    assert len(getattr(tabular_model, method)(ROWS[:1])) == 1
    assert len(getattr(tabular_model, method)([[0, 1, 2, 3]])) == 1  # ints, a list
    for images in (IMAGES[:2], IMAGES[:2, 0], IMAGES[:2].reshape(2, -1)):  # 4-D, 3-D, flat
        assert getattr(image_model, method)(images).shape[0] == 2
