"""``partial_fit``: training in chunks, with a threshold ready after every call.

scikit-learn's meaning (``MiniBatchKMeans``, ``SGDClassifier``): the first
call initialises, later calls continue training; ``fit`` starts afresh.
After every call ``offset_`` and ``decision_scores_`` come from the recent
training rows' scores, taken before the networks trained on them.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

import skanomaly
from skanomaly import GANomalyDetector
from skanomaly.exceptions import TrainingDivergedError

from .conftest import fast

_rng = np.random.default_rng(3)
CHUNKS = [_rng.normal(size=(40, 4)) for _ in range(4)]


def _partially_fitted(cls, chunks=CHUNKS, **params):
    detector = fast(cls, **params)
    for chunk in chunks:
        detector.partial_fit(chunk)
    return detector


def _assert_ready(detector, X):
    """Everything a fitted detector offers works and agrees with ``offset_``."""
    scores = detector.score_samples(X)
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    np.testing.assert_array_equal(detector.decision_function(X), scores - detector.offset_)
    np.testing.assert_array_equal(detector.predict(X), np.where(scores < detector.offset_, -1, 1))
    assert detector.decision_scores_.dtype == np.float64
    # offset_ is taken from decision_scores_ exactly as fit takes it.
    assert detector.offset_ == detector._fit_offset(detector.decision_scores_)
    flagged = np.mean(-detector.decision_scores_ < detector.offset_)
    assert flagged == pytest.approx(detector.contamination, abs=0.05)


# ----------------------------------------------------------------------
# scikit-learn's conventions.
# ----------------------------------------------------------------------
def test_first_call_initialises_and_every_call_leaves_a_usable_model(detector_class):
    detector = fast(detector_class)
    assert detector.partial_fit(CHUNKS[0]) is detector
    assert detector.n_features_in_ == 4
    assert detector.n_estimators_ == 5
    assert detector.member_scaling_.shape == (2, 5)
    assert detector.n_samples_seen_ == 40
    # The first call's rows, scored out of bag after training.
    assert detector.decision_scores_.shape == (40,)
    _assert_ready(detector, CHUNKS[0])
    for seen, chunk in enumerate(CHUNKS[1:], start=2):
        detector.partial_fit(chunk)
        assert detector.n_samples_seen_ == 40 * seen
        assert detector.decision_scores_.shape == (40 * seen,)
        assert all(len(values) == seen for values in detector.history_.values())
        _assert_ready(detector, chunk)


def test_partial_fit_leaves_the_parameters_alone(detector_class):
    detector = fast(detector_class)
    params = detector.get_params()
    detector.partial_fit(CHUNKS[0]).partial_fit(CHUNKS[1])
    assert detector.get_params() == params
    assert not hasattr(clone(detector), "offset_")


def test_later_calls_must_have_the_first_calls_features(detector_class):
    detector = fast(detector_class).partial_fit(CHUNKS[0])
    offset = detector.offset_
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
        detector.partial_fit(CHUNKS[1][:, :3])
    assert detector.offset_ == offset and detector.n_samples_seen_ == 40


def test_later_calls_must_have_the_first_calls_image_shape(digits_images):
    images = digits_images[0][:60]
    detector = fast(GANomalyDetector, n_filters=4).partial_fit(images[:30])
    assert detector.image_shape_ == (1, 8, 8)
    with pytest.raises(ValueError, match="wrong image shape"):
        detector.partial_fit(np.zeros((4, 1, 9, 9)))
    detector.partial_fit(images[30:])
    _assert_ready(detector, images)


def test_same_random_state_same_model(detector_class):
    a = _partially_fitted(detector_class)
    b = _partially_fitted(detector_class)
    np.testing.assert_array_equal(a.score_samples(CHUNKS[0]), b.score_samples(CHUNKS[0]))
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)


def test_fit_after_partial_fit_starts_afresh(detector_class):
    X = np.concatenate(CHUNKS)
    refit = _partially_fitted(detector_class).fit(X)
    fresh = fast(detector_class).fit(X)
    assert not hasattr(refit, "n_samples_seen_")
    np.testing.assert_array_equal(refit.score_samples(X), fresh.score_samples(X))
    assert refit.offset_ == fresh.offset_


def test_partial_fit_after_fit_continues_from_the_fitted_weights(detector_class):
    X = np.concatenate(CHUNKS[:2])
    detector = fast(detector_class).fit(X)
    weights = {k: v.clone() for k, v in detector.generator_.state_dict().items()}
    n_epochs = len(next(iter(detector.history_.values())))
    detector.partial_fit(CHUNKS[2])
    assert detector.n_samples_seen_ == 80 + 40
    assert len(next(iter(detector.history_.values()))) == n_epochs + 1
    # Continued: the weights moved, but only by one pass from the fitted ones.
    moved = [
        float((v - weights[k]).abs().max())
        for k, v in detector.generator_.state_dict().items()
        if v.is_floating_point() and "running" not in k
    ]
    assert 0 < max(moved) < 0.05
    # fit's scores of its own rows, then the new chunk's, scored before training on it.
    assert len(detector.decision_scores_) == 80 + 40
    _assert_ready(detector, X)


def test_a_chunk_of_one_row_is_scored_not_trained(detector_class):
    detector = _partially_fitted(detector_class, CHUNKS[:2])
    weights = {k: v.clone() for k, v in detector.generator_.state_dict().items()}
    detector.partial_fit(CHUNKS[2][:1])
    assert detector.n_samples_seen_ == 81
    for k, v in detector.generator_.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, weights[k]), k
    _assert_ready(detector, CHUNKS[2])


def test_small_chunks_train_every_ensemble_member():
    detector = _partially_fitted(GANomalyDetector, [CHUNKS[0], CHUNKS[1][:3], CHUNKS[1][3:5]])
    assert detector.n_samples_seen_ == 45
    _assert_ready(detector, CHUNKS[1])


# ----------------------------------------------------------------------
# Behaviour.
# ----------------------------------------------------------------------
def test_chunks_of_a_table_rank_its_planted_outliers_high(detector_class):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6))
    outliers = rng.choice(1000, 20, replace=False)
    X[outliers] += rng.choice([-5.0, 5.0], size=(20, 6))
    y = np.isin(np.arange(1000), outliers)
    params = {"latent_steps": 20} if "latent_steps" in detector_class().get_params() else {}
    detector = detector_class(random_state=0, device="cpu", **params)
    for chunk in np.array_split(X, 10):
        detector.partial_fit(chunk)
    scores = detector.score_samples(X)
    assert roc_auc_score(y, -scores) > 0.95
    assert roc_auc_score(y, -detector.decision_function(X)) > 0.95
    # The training rows' own scores (test-then-train) rank them as well.
    assert roc_auc_score(y[100:], detector.decision_scores_[100:]) > 0.95


def test_repeated_calls_reduce_the_training_loss():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 8)) @ rng.normal(size=(8, 8))
    detector = GANomalyDetector(random_state=0, n_estimators=1, batch_size=32)
    for _ in range(15):
        detector.partial_fit(X)
    loss_con = detector.history_["loss_con"]
    assert len(loss_con) == 15
    assert np.mean(loss_con[-3:]) < 0.9 * np.mean(loss_con[:3])


def test_the_optimiser_state_carries_over_between_calls():
    """Adam's moments and step count go on from call to call."""
    detector = GANomalyDetector(random_state=0, n_estimators=1, batch_size=16)
    detector.partial_fit(CHUNKS[0])
    state = detector._partial_fit_state["optimizers"]
    steps = [float(s["step"]) for s in (state["g"][0], state["d"][0])]
    assert steps == [3.0, 3.0]  # 40 rows in batches of 16, 16 and 8
    detector.partial_fit(CHUNKS[1])
    state = detector._partial_fit_state["optimizers"]
    assert [float(s["step"]) for s in (state["g"][0], state["d"][0])] == [6.0, 6.0]


def test_thresholds_hold_on_new_rows_after_many_calls():
    rng = np.random.default_rng(1)
    detector = GANomalyDetector(random_state=0)
    for _ in range(30):
        detector.partial_fit(rng.normal(size=(200, 5)))
    flagged = np.mean(detector.predict(rng.normal(size=(4000, 5))) == -1)
    assert 0.04 < flagged < 0.2


def test_the_recent_scores_are_bounded(monkeypatch):
    monkeypatch.setattr(skanomaly._partial, "_PARTIAL_FIT_SCORES", 50)
    detector = fast(GANomalyDetector)
    detector.partial_fit(np.random.default_rng(0).normal(size=(120, 4)))
    assert detector.decision_scores_.shape == (50,)  # a random sample of a large call
    for chunk in CHUNKS:
        detector.partial_fit(chunk)
        assert detector.decision_scores_.shape == (50,)
        state = detector._partial_fit_state
        assert state["scores"].shape == (50, 5)
        assert state["honest"][-40:].all()  # every member scored the chunk before training
        assert len(state["recent"]) <= detector._calibration_rows()
    _assert_ready(detector, CHUNKS[-1])


def test_default_bound_is_ten_thousand_scores():
    assert skanomaly._partial._PARTIAL_FIT_SCORES == 10_000


# ----------------------------------------------------------------------
# Faults.
# ----------------------------------------------------------------------
def test_divergence_is_reported_and_the_call_undone(detector_class, monkeypatch):
    detector = _partially_fitted(detector_class, CHUNKS[:2])
    before = detector.score_samples(CHUNKS[0])
    offset, history = detector.offset_, {k: list(v) for k, v in detector.history_.items()}
    original = detector_class._train_step

    def poisoned(self, x, optimizers):
        losses = original(self, x, optimizers)
        return {**losses, sorted(losses)[0]: torch.tensor(float("nan"))}

    monkeypatch.setattr(detector_class, "_train_step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"diverged in partial_fit: \w+ = nan"):
        detector.partial_fit(CHUNKS[2])
    monkeypatch.undo()
    np.testing.assert_array_equal(detector.score_samples(CHUNKS[0]), before)
    assert detector.offset_ == offset and detector.history_ == history
    assert detector.n_samples_seen_ == 80
    detector.partial_fit(CHUNKS[2])  # and it goes on from there
    assert detector.n_samples_seen_ == 120


def test_a_failed_first_call_leaves_no_fitted_attributes(nan_scoring):
    detector = fast(nan_scoring)
    with pytest.raises(TrainingDivergedError, match="non-finite anomaly scores"):
        detector.partial_fit(CHUNKS[0])
    assert not [k for k in vars(detector) if k.endswith("_")]
    assert not hasattr(detector, "_partial_fit_state")


# ----------------------------------------------------------------------
# Persistence.
# ----------------------------------------------------------------------
def test_pickle_keeps_everything_partial_fit_needs(detector_class):
    detector = _partially_fitted(detector_class, CHUNKS[:2])
    copy = pickle.loads(pickle.dumps(detector))
    np.testing.assert_array_equal(copy.score_samples(CHUNKS[0]), detector.score_samples(CHUNKS[0]))
    detector.partial_fit(CHUNKS[2])
    copy.partial_fit(CHUNKS[2])
    np.testing.assert_array_equal(copy.score_samples(CHUNKS[0]), detector.score_samples(CHUNKS[0]))
    np.testing.assert_array_equal(copy.decision_scores_, detector.decision_scores_)


def test_save_and_load_after_partial_fit(detector_class, tmp_path):
    detector = _partially_fitted(detector_class, CHUNKS[:2])
    path = tmp_path / "model.skan"
    skanomaly.save(detector, path)
    loaded = skanomaly.load(path)
    X = CHUNKS[0]
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.predict(X), detector.predict(X))
    assert loaded.offset_ == detector.offset_ and loaded.n_samples_seen_ == 80
    # A loaded model trains on, from its recent scores and fresh optimiser moments.
    loaded.partial_fit(CHUNKS[2])
    assert loaded.n_samples_seen_ == 120
    assert loaded.decision_scores_.shape == (120,)
    _assert_ready(loaded, X)


def test_recent_scores_restarted_from_decision_scores_keep_the_ranking():
    """After fit (or a load) the recent scores start from decision_scores_, ranked as they were."""
    X = np.concatenate(CHUNKS)
    detector = fast(GANomalyDetector).fit(X)
    anomaly_scores = detector.decision_scores_.copy()
    state = detector._partial_state()
    combined = detector._combine_member_scores(state["scores"], state["honest"])
    np.testing.assert_array_equal(np.argsort(combined), np.argsort(anomaly_scores))
    # The same threshold, in the refreshed scale: (score - median) / spread.
    spread = max(np.subtract(*np.percentile(anomaly_scores, [75, 25])), np.std(anomaly_scores))
    expected = (detector.offset_ + np.median(anomaly_scores)) / spread
    assert detector._fit_offset(combined) == pytest.approx(expected, rel=1e-9)
