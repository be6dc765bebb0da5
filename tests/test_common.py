"""Behaviour every detector shares: sklearn compatibility, accuracy, errors.

Each test runs for every class in ``DETECTOR_CLASSES``.
"""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from .conftest import DETECTOR_CLASSES, TEST_DEVICE, fast


@parametrize_with_checks([fast(cls) for cls in DETECTOR_CLASSES])
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------
# Accuracy: planted anomalies must rank high.
# ---------------------------------------------------------------------------
def test_planted_outliers_rank_high(detector_class, blobs):
    inliers, outliers = blobs
    detector = fast(detector_class, n_epochs=30).fit(inliers)
    scores = detector.score_samples(np.vstack([inliers[:50], outliers]))
    labels = np.r_[np.zeros(50), np.ones(len(outliers))]
    assert roc_auc_score(labels, -scores) > 0.9
    assert (detector.predict(outliers) == -1).mean() >= 0.75


def test_breast_cancer_malignant_rank_higher(detector_class, breast_cancer_split):
    X_train, X_test, y_test = breast_cancer_split
    detector = fast(detector_class, n_epochs=60, batch_size=32).fit(X_train)
    auc = roc_auc_score(y_test, -detector.score_samples(X_test))
    assert auc > 0.85, auc


def test_digits_one_class(detector_class, digits_images):
    X, y = digits_images
    train, test = np.arange(0, len(X), 2), np.arange(1, len(X), 2)
    normal = 0
    detector = fast(detector_class, n_epochs=40, batch_size=32, n_filters=16)
    detector.fit(X[train][y[train] == normal])
    auc = roc_auc_score(y[test] != normal, -detector.score_samples(X[test]))
    assert auc > 0.85, auc


# ---------------------------------------------------------------------------
# API contract.
# ---------------------------------------------------------------------------
def test_outputs_and_threshold(detector_class, blobs):
    inliers, outliers = blobs
    detector = fast(detector_class, contamination=0.2).fit(inliers)
    scores = detector.score_samples(inliers)
    assert scores.dtype == np.float64 and scores.shape == (len(inliers),)
    np.testing.assert_allclose(detector.decision_function(inliers), scores - detector.offset_)
    labels = detector.predict(inliers)
    assert set(np.unique(labels)) <= {-1, 1}
    # The threshold flags the contamination share of the training data.
    assert abs((labels == -1).mean() - 0.2) < 0.02
    assert set(detector.history_) and all(
        len(values) == detector.n_epochs_ for values in detector.history_.values()
    )
    assert detector.device_ == TEST_DEVICE


def test_score_independent_of_batch(detector_class, blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers, outliers])
    detector = fast(detector_class).fit(inliers)
    together = detector.score_samples(X)
    alone = np.array([detector.score_samples(X[i : i + 1])[0] for i in range(0, len(X), 37)])
    np.testing.assert_allclose(together[::37], alone, rtol=1e-5, atol=1e-6)
    shuffled = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(detector.score_samples(X[shuffled]), together[shuffled], rtol=1e-5)


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


def test_dataframe_keeps_feature_names(detector_class, blobs):
    pd = pytest.importorskip("pandas")
    inliers, _ = blobs
    frame = pd.DataFrame(inliers, columns=["a", "b", "c", "d"])
    detector = fast(detector_class).fit(frame)
    assert list(detector.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(detector.score_samples(frame), detector.score_samples(inliers))


def test_constant_feature_is_harmless(detector_class, blobs):
    inliers, _ = blobs
    X = np.column_stack([inliers, np.full(len(inliers), 3.0)])
    detector = fast(detector_class).fit(X)
    assert np.isfinite(detector.score_samples(X)).all()


# ---------------------------------------------------------------------------
# sklearn tooling: pipelines, grid search, persistence, determinism.
# ---------------------------------------------------------------------------
def test_pipeline(detector_class, blobs):
    inliers, outliers = blobs
    pipe = make_pipeline(StandardScaler(), fast(detector_class, n_epochs=30)).fit(inliers)
    assert (pipe.predict(outliers) == -1).mean() >= 0.8
    assert pipe.score_samples(outliers).shape == (len(outliers),)


def test_grid_search_with_roc_auc_on_labelled_validation(detector_class, blobs):
    inliers, outliers = blobs
    # Train folds hold inliers only; the validation fold holds both.
    X = np.vstack([inliers[:150], inliers[150:], outliers])
    y = np.r_[np.zeros(200), np.ones(len(outliers))].astype(int)
    fold = np.r_[np.full(150, -1), np.zeros(50 + len(outliers))]
    scorer = lambda est, X_val, y_val: roc_auc_score(y_val, -est.score_samples(X_val))  # noqa: E731
    search = GridSearchCV(
        fast(detector_class),
        {"n_epochs": [1, 10]},
        scoring=scorer,
        cv=PredefinedSplit(fold),
    ).fit(X, y)
    assert search.best_params_["n_epochs"] in (1, 10)
    assert search.best_score_ > 0.9


@pytest.mark.parametrize("dump_load", ["joblib", "pickle"])
def test_persistence_round_trip(detector_class, blobs, tmp_path, dump_load):
    inliers, outliers = blobs
    detector = fast(detector_class).fit(inliers)
    path = tmp_path / "model.bin"
    if dump_load == "joblib":
        joblib.dump(detector, path)
        loaded = joblib.load(path)
    else:
        path.write_bytes(pickle.dumps(detector))
        loaded = pickle.loads(path.read_bytes())
    X = np.vstack([inliers, outliers])
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))


def test_determinism_and_no_global_seeding(detector_class, blobs):
    inliers, _ = blobs
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global generator)
    first = fast(detector_class, random_state=3).fit(inliers).score_samples(inliers)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    second = fast(detector_class, random_state=3).fit(inliers).score_samples(inliers)
    np.testing.assert_array_equal(first, second)
    other = fast(detector_class, random_state=4).fit(inliers).score_samples(inliers)
    assert not np.array_equal(first, other)


def test_clone_keeps_params_unfitted(detector_class, blobs):
    detector = fast(detector_class, latent_dim=3, hidden_dims=(16, 8)).fit(blobs[0])
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "offset_")
    assert detector.latent_dim_ == 3 and detector.hidden_dims_ == (16, 8)


def test_verbose_reports_progress(detector_class, blobs, capsys):
    fast(detector_class, verbose=2).fit(blobs[0])
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "loss" in out
    fast(detector_class, verbose=1).fit(blobs[0])
    assert "epoch" in capsys.readouterr().err  # tqdm writes the bar to stderr


# ---------------------------------------------------------------------------
# Errors: clear messages, never a torch stack trace.
# ---------------------------------------------------------------------------
def _rows():
    return np.random.default_rng(0).normal(size=(30, 4))


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (np.r_[_rows(), [[np.nan, 0, 0, 0]]], ValueError, "NaN"),
        (np.r_[_rows(), [[np.inf, 0, 0, 0]]], ValueError, "infinity"),
        (np.empty((0, 4)), ValueError, "0 sample"),
        (_rows()[:1], ValueError, "1 sample"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), ValueError, "convert string"),
        (_rows()[:, 0], ValueError, "Expected 2D array"),
        (np.zeros((10, 1, 4, 4)), ValueError, "at least 8x8"),
        (np.zeros((4, 1, 8, 8, 1)), ValueError, "2-D, 3-D or 4-D"),
    ],
    ids=["nan", "inf", "empty", "one-sample", "strings", "1d", "tiny-image", "5d"],
)
def test_fit_rejects_bad_input(detector_class, X, error, match):
    with pytest.raises(error, match=match):
        fast(detector_class).fit(X)


def test_sparse_input_is_rejected(detector_class):
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="Sparse data"):
        fast(detector_class).fit(sparse.random(20, 4, density=0.5, format="csr"))


def test_scoring_rejects_mismatched_input(detector_class, digits_images):
    X, _ = digits_images
    tabular = fast(detector_class).fit(_rows())
    with pytest.raises(ValueError, match="3 features, but .* is expecting 4"):
        tabular.score_samples(_rows()[:, :3])
    with pytest.raises(ValueError, match="fitted on tabular data"):
        tabular.predict(np.zeros((2, 1, 8, 8)))
    images = fast(detector_class, n_filters=4).fit(X[:40])
    with pytest.raises(ValueError, match="wrong image shape"):
        images.anomaly_map(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match="wrong image shape"):
        images.reconstruct(np.zeros((2, 9, 9)))
    with pytest.raises(ValueError, match="NaN"):
        images.score_samples(np.full((2, 1, 8, 8), np.nan))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"contamination": 0.7}, "contamination"),
        ({"contamination": 0.0}, "contamination"),
        ({"n_epochs": 0}, "n_epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"hidden_dims": (8, -2)}, "hidden_dims"),
        ({"image_shape": (8, 8)}, "image_shape"),
        ({"image_shape": (2, 2, 2, 2)}, "image_shape"),
        ({"device": "no-such-device"}, "device"),
    ],
)
def test_invalid_parameters(detector_class, params, match):
    with pytest.raises(ValueError, match=match):
        fast(detector_class, **params).fit(_rows())


def test_cuda_request_without_cuda(detector_class, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        fast(detector_class, device="cuda").fit(_rows())


def test_divergence_is_reported(detector_class):
    X = np.random.default_rng(0).normal(size=(64, 4)) * 1e3
    with pytest.raises(FloatingPointError, match=r"epoch \d+"):
        fast(detector_class, learning_rate=1e12, n_epochs=20).fit(X)


def test_unfitted_raises(detector_class):
    from sklearn.exceptions import NotFittedError

    for method in ("score_samples", "decision_function", "predict", "reconstruct", "anomaly_map"):
        with pytest.raises(NotFittedError):
            getattr(detector_class(), method)(_rows())
