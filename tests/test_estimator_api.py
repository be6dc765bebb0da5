"""The scikit-learn contract of every detector: checks, outputs, params, tooling.

Each test runs for every class in ``DETECTOR_CLASSES``.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from .conftest import DETECTOR_CLASSES, TEST_DEVICE, fast


def _expected_failed_checks(estimator):
    if estimator.n_estimators == 1:
        return {}
    # With several members, ``offset_`` comes from out-of-bag scores so that
    # it holds on new data; predict() on the training rows, which most
    # members have learnt, flags fewer than ``contamination`` of them
    # (test_robust_training.py; these checks pass with n_estimators=1).
    reason = "the threshold is set on out-of-bag scores, to hold on new data"
    return {"check_outliers_train": reason, "check_outliers_fit_predict": reason}


@parametrize_with_checks(
    [
        *(fast(cls) for cls in DETECTOR_CLASSES),
        *(fast(cls, contamination="auto") for cls in DETECTOR_CLASSES),
        *(fast(cls, n_estimators=1) for cls in DETECTOR_CLASSES),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------
# Outputs.
# ---------------------------------------------------------------------------
def test_outputs_and_threshold(detector_class, fitted_tabular, blobs):
    inliers, _ = blobs
    detector = fitted_tabular[detector_class]
    scores = detector.score_samples(inliers)
    assert scores.dtype == np.float64 and scores.shape == (len(inliers),)
    decision = detector.decision_function(inliers)
    assert decision.dtype == np.float64
    np.testing.assert_allclose(decision, scores - detector.offset_)
    labels = detector.predict(inliers)
    np.testing.assert_array_equal(labels, np.where(decision < 0, -1, 1))
    # The threshold flags the contamination share of the training data, by
    # the scores it was taken from (out of bag, see test_robust_training.py).
    flagged = -detector.decision_scores_ - detector.offset_ < 0
    assert abs(flagged.mean() - detector.contamination) < 0.02
    assert detector.device_ == TEST_DEVICE


@pytest.mark.parametrize("data", ["tabular", "images"])
def test_scores_do_not_depend_on_the_batch(
    detector_class, data, fitted_tabular, fitted_image, blobs, digits_images
):
    # Scoring is one forward pass (or, for AnoGAN, one search) per row: a row
    # scores the same alone, among inliers or outliers, and in any order.
    if data == "tabular":
        detector, X = fitted_tabular[detector_class], np.vstack(blobs)
    else:
        detector, X = fitted_image[detector_class], digits_images[0][:160]
    # Bit for bit on the CPU; cuDNN may pick other kernels for other batch sizes.
    same = {"rtol": 0, "atol": 0} if TEST_DEVICE == "cpu" else {"rtol": 1e-5, "atol": 1e-6}
    together = detector.score_samples(X)
    alone = np.array([detector.score_samples(X[i : i + 1])[0] for i in range(0, len(X), 11)])
    np.testing.assert_allclose(together[::11], alone, **same)
    shuffled = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(detector.score_samples(X[shuffled]), together[shuffled], **same)
    np.testing.assert_allclose(detector.score_samples(X[:20]), together[:20], **same)
    np.testing.assert_allclose(
        detector.reconstruct(X[:5]), np.vstack([detector.reconstruct(x[None]) for x in X[:5]]),
        **same,
    )  # fmt: skip


def test_scores_and_maps_in_one_pass(detector_class, fitted_image, digits_images, monkeypatch):
    detector = fitted_image[detector_class]
    X = digits_images[0][64:104]
    expected = (detector.anomaly_map(X), detector.score_samples(X))
    if detector_class.__name__ == "AnoGANDetector":
        calls = []
        original = detector_class._search
        monkeypatch.setattr(
            detector_class, "_search", lambda self, *a: calls.append(1) or original(self, *a)
        )
    maps, scores = detector.anomaly_map(X, return_scores=True)
    np.testing.assert_array_equal(scores, expected[1])
    np.testing.assert_allclose(maps, expected[0], rtol=1e-12, atol=1e-12)
    if detector_class.__name__ == "AnoGANDetector":
        assert len(calls) == 1  # one chunk, searched once for both


def test_scoring_streams_in_batches(detector_class, monkeypatch):
    # Memory grows with the batch, not with the number of rows.
    rng = np.random.default_rng(0)
    # (A one-step AnoGAN search: the chunking is the point here, not the search.)
    one_step = {"latent_steps": 1} if "latent_steps" in detector_class._get_param_names() else {}
    detector = fast(detector_class, hidden_dims=(8,), **one_step).fit(rng.normal(size=(48, 30)))
    X = rng.normal(size=(40_000, 30))  # 9.2 MB
    sizes = []
    original = detector_class._anomaly_score

    def anomaly_score(self, nets, x):
        sizes.append(len(x))
        return original(self, nets, x)

    monkeypatch.setattr(detector_class, "_anomaly_score", anomaly_score)
    tracemalloc.start()
    try:
        scores = detector.score_samples(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Fixed-size chunks, the last one padded: as many as the rows need.
    chunk = detector._score_batch_rows()
    # (Each chunk goes to every ensemble member: n_estimators_ copies of it.)
    assert set(sizes) == {chunk * detector.n_estimators_}
    assert len(sizes) == -(-len(X) // chunk) and chunk < len(X)
    # The scores themselves are 1/30 of the input; no scaled copy of X is made.
    assert peak < 0.15 * X.nbytes, f"numpy peak {peak / 2**20:.1f} MB"
    np.testing.assert_array_equal(scores[:100], detector.score_samples(X[:100]))


def test_dataframe_keeps_feature_names(detector_class, blobs):
    pd = pytest.importorskip("pandas")
    inliers, _ = blobs
    frame = pd.DataFrame(inliers, columns=["a", "b", "c", "d"])
    detector = fast(detector_class).fit(frame)
    assert list(detector.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(detector.score_samples(frame), detector.score_samples(inliers))


# ---------------------------------------------------------------------------
# Parameters.
# ---------------------------------------------------------------------------
def test_clone_keeps_params_unfitted(detector_class, fitted_tabular):
    detector = fitted_tabular[detector_class]
    copy = clone(detector)
    assert copy.get_params() == detector.get_params()
    assert not hasattr(copy, "offset_")
    assert detector.latent_dim_ == 3 and detector.hidden_dims_ == (16, 8)


def test_set_params_takes_effect_at_the_next_fit(detector_class, blobs):
    detector = fast(detector_class).set_params(latent_dim=5, n_epochs=1)
    assert detector.get_params()["latent_dim"] == 5
    detector.fit(blobs[0][:40])
    assert detector.latent_dim_ == 5 and detector.n_epochs_ == 1


# ---------------------------------------------------------------------------
# sklearn tooling: pipelines and grid search.
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
    # One row per candidate, each scored as a fit of that candidate alone would be.
    assert [p["n_epochs"] for p in search.cv_results_["params"]] == [1, 10]
    validation = slice(150, None)
    by_hand = [
        scorer(fast(detector_class, n_epochs=n).fit(X[:150]), X[validation], y[validation])
        for n in (1, 10)
    ]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], by_hand)
    # The best candidate is the one with the higher validation AUC, refitted on all of X.
    assert search.best_params_ == {"n_epochs": (1, 10)[int(np.argmax(by_hand))]}
    assert search.best_score_ == max(by_hand) and search.best_score_ > 0.9
    refit = fast(detector_class, **search.best_params_).fit(X)
    assert search.best_estimator_.n_epochs_ == search.best_params_["n_epochs"]
    np.testing.assert_array_equal(search.best_estimator_.score_samples(X), refit.score_samples(X))
