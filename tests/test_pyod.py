"""PyODDetector: a skanomaly detector used through PyOD's own tools."""

from __future__ import annotations

import numpy as np
import pytest
from pyod.models.base import BaseDetector
from pyod.models.combination import average, maximization
from pyod.utils.data import evaluate_print
from pyod.utils.persistence import load, save
from pyod.utils.utility import precision_n_scores, standardizer
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import (
    check_n_features_in,
    check_n_features_in_after_fitting,
)

from skanomaly import GANomalyDetector
from skanomaly.pyod import PyODDetector

from .conftest import fast


@pytest.fixture(scope="module")
def split(blobs):
    """Train on inliers with a few outliers mixed in; test on both, labelled 0/1."""
    inliers, outliers = blobs
    X_train = np.r_[inliers[:150], outliers[:5]]
    X_test = np.r_[inliers[150:], outliers[5:]]
    y_test = np.r_[np.zeros(50, dtype=int), np.ones(15, dtype=int)]
    return X_train, X_test, y_test


@pytest.fixture(scope="module")
def fitted(split):
    X_train, _, _ = split
    return PyODDetector(fast(GANomalyDetector), contamination=0.05).fit(X_train)


def test_is_a_pyod_detector_with_its_attributes(fitted, split):
    X_train, _, _ = split
    assert isinstance(fitted, BaseDetector)
    assert fitted.estimator_ is not fitted.estimator
    assert not hasattr(fitted.estimator, "offset_")  # the given estimator stays unfitted
    # The wrapped detector's threshold follows the wrapper's contamination.
    assert fitted.estimator_.contamination == 0.05
    assert fitted.decision_scores_.shape == (len(X_train),)
    # The wrapped detector's own (out-of-bag) training scores, as its threshold uses.
    np.testing.assert_array_equal(fitted.decision_scores_, fitted.estimator_.decision_scores_)
    assert set(np.unique(fitted.labels_)) <= {0, 1}
    np.testing.assert_array_equal(
        fitted.labels_, (fitted.decision_scores_ > fitted.threshold_).astype(int)
    )
    assert fitted.labels_.mean() == pytest.approx(0.05, abs=0.02)


def test_scores_and_labels_follow_pyod_conventions(fitted, split):
    _, X_test, y_test = split
    scores = fitted.decision_function(X_test)
    np.testing.assert_allclose(scores, -fitted.estimator_.score_samples(X_test))
    # Higher = more abnormal: the far outliers rank above the inliers.
    assert roc_auc_score(y_test, scores) > 0.9
    labels = fitted.predict(X_test)
    assert set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, (scores > fitted.threshold_).astype(int))
    assert labels[y_test == 1].mean() > labels[y_test == 0].mean()
    labels_again, confidence = fitted.predict(X_test, return_confidence=True)
    np.testing.assert_array_equal(labels_again, labels)
    assert confidence.shape == (len(X_test),)


@pytest.mark.parametrize("method", ["linear", "unify"])
def test_predict_proba(fitted, split, method):
    _, X_test, y_test = split
    proba = fitted.predict_proba(X_test, method=method)
    assert proba.shape == (len(X_test), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[y_test == 1, 1].mean() > proba[y_test == 0, 1].mean()


def test_predict_confidence(fitted, split):
    _, X_test, _ = split
    confidence = fitted.predict_confidence(X_test)
    assert confidence.shape == (len(X_test),)
    assert np.all((confidence >= 0) & (confidence <= 1))


def test_evaluate_print_and_precision_at_n(fitted, split, capsys):
    _, X_test, y_test = split
    scores = fitted.decision_function(X_test)
    evaluate_print("GANomaly", y_test, scores)
    printed = capsys.readouterr().out
    assert printed.startswith("GANomaly ROC:")
    assert f"ROC:{np.round(roc_auc_score(y_test, scores), 4)}" in printed
    assert precision_n_scores(y_test, scores) >= 0.8


def test_score_combination(fitted, split):
    """Standardised scores of two detectors combine with PyOD's functions."""
    X_train, X_test, y_test = split
    other = PyODDetector(fast(GANomalyDetector, random_state=1), contamination=0.05).fit(X_train)
    train_scores = np.column_stack([fitted.decision_scores_, other.decision_scores_])
    test_scores = np.column_stack(
        [fitted.decision_function(X_test), other.decision_function(X_test)]
    )
    _, test_norm = standardizer(train_scores, test_scores)
    for combine in (average, maximization):
        combined = combine(test_norm)
        assert combined.shape == (len(X_test),)
        assert roc_auc_score(y_test, combined) > 0.9
    np.testing.assert_allclose(average(test_norm), test_norm.mean(axis=1))
    np.testing.assert_allclose(maximization(test_norm), test_norm.max(axis=1))


def test_pyod_persistence_round_trip(fitted, split, tmp_path):
    _, X_test, _ = split
    path = tmp_path / "ganomaly.joblib"
    save(fitted, path, metadata={"run": "test"})
    loaded, metadata = load(path, return_metadata=True, trusted=True)
    assert isinstance(loaded, PyODDetector)
    assert metadata["metadata"] == {"run": "test"}
    assert metadata["model_class"] == "skanomaly.pyod.PyODDetector"
    np.testing.assert_array_equal(
        loaded.decision_function(X_test), fitted.decision_function(X_test)
    )
    np.testing.assert_array_equal(loaded.predict(X_test), fitted.predict(X_test))
    assert loaded.threshold_ == fitted.threshold_


def test_clone_and_params():
    wrapper = PyODDetector(fast(GANomalyDetector), contamination=0.2)
    params = wrapper.get_params()
    assert params["contamination"] == 0.2
    assert params["estimator__n_epochs"] == 2
    copy = clone(wrapper.set_params(estimator__n_epochs=3))
    assert copy.estimator.n_epochs == 3
    assert not hasattr(copy, "estimator_")


@pytest.mark.parametrize("contamination", [0.0, 0.6, "auto"])
def test_rejects_bad_contamination(contamination, split):
    with pytest.raises(ValueError, match="contamination"):
        PyODDetector(fast(GANomalyDetector), contamination=contamination).fit(split[0])


def test_rejects_estimator_without_score_samples(split):
    from sklearn.cluster import KMeans

    with pytest.raises(TypeError, match="score_samples"):
        PyODDetector(KMeans()).fit(split[0])


def test_images_pass_through(digits_images):
    """3-D/4-D image input reaches the wrapped detector unchanged."""
    X, y = digits_images
    clf = PyODDetector(fast(GANomalyDetector, n_filters=8)).fit(X[y == 0][:60])
    scores = clf.decision_function(X[:10])
    assert scores.shape == (10,)
    assert clf.predict_proba(X[:10]).shape == (10, 2)


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
