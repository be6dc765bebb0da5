"""Training on contaminated tables: robust training, ensembles, honest thresholds.

Each test runs for every class in ``DETECTOR_CLASSES`` unless it says otherwise.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skanomaly import AnoGANDetector

from .conftest import fast


@pytest.fixture(scope="module")
def contaminated():
    """A training table with 10% planted anomalies (a tight cluster away from
    the normal rows), and a test table of new normal rows and new anomalies."""
    rng = np.random.default_rng(3)
    mixing = rng.normal(size=(6, 6))

    def normal(n):
        return rng.normal(size=(n, 6)) @ mixing

    def anomalies(n):
        return rng.normal(4.0, 0.3, size=(n, 6)) @ mixing

    X = np.vstack([normal(360), anomalies(40)])
    planted = np.r_[np.zeros(360), np.ones(40)]
    X_test = np.vstack([normal(300), anomalies(30)])
    y_test = np.r_[np.zeros(300), np.ones(30)]
    return X, planted, X_test, y_test


def test_robust_training_does_not_learn_the_planted_anomalies(detector_class, contaminated):
    # One plain model learns the anomalies it trains on: they, and new ones
    # like them, rank lower than when the worst rows of each batch are left out.
    X, planted, X_test, y_test = contaminated
    aucs = {}
    for robust in (False, True):
        detector = fast(
            detector_class, n_epochs=30, batch_size=32, n_estimators=1, robust_training=robust
        ).fit(X)
        aucs[robust] = (
            roc_auc_score(planted, detector.decision_scores_),
            roc_auc_score(y_test, -detector.score_samples(X_test)),
        )
    (plain_train, plain_test), (robust_train, robust_test) = aucs[False], aucs[True]
    if plain_test > 0.99:
        # AnoGAN's generator leaves this small cluster out even in plain
        # training (its codes never reach it): trimming must not hurt.
        assert detector_class is AnoGANDetector, aucs
        assert min(robust_train, robust_test) > 0.99, aucs
        return
    assert robust_train > plain_train + 0.02, aucs
    assert robust_test > plain_test + 0.02, aucs
    assert robust_test > 0.95, aucs


def test_off_setting_is_plain_training(detector_class, blobs, monkeypatch):
    # Off, no row is dropped and every batch loss is the plain mean: the
    # trimming code is never reached, and the fit is that of a detector
    # whose trimming is stubbed out to "keep every row".
    X = np.vstack(blobs)
    off = fast(detector_class, robust_training=False).fit(X)
    assert off.trim_fraction_ == 0.0
    reached = []
    monkeypatch.setattr(detector_class, "_trim", lambda self, criterion: reached.append(1) or None)
    stubbed = fast(detector_class, robust_training=True).fit(X)
    assert reached, "robust training never asked which rows to drop"
    np.testing.assert_array_equal(off.score_samples(X), stubbed.score_samples(X))
    for name, module in off._networks().items():
        for key, value in module.state_dict().items():
            torch.testing.assert_close(
                value, stubbed._networks()[name].state_dict()[key], rtol=0, atol=0
            )


def test_robust_training_changes_the_fit(detector_class, blobs):
    X = np.vstack(blobs)
    on = fast(detector_class, robust_training=True).fit(X)
    off = fast(detector_class, robust_training=False).fit(X)
    assert on.trim_fraction_ == on.contamination
    assert not np.array_equal(on.score_samples(X), off.score_samples(X))


@pytest.mark.parametrize("contamination", [0.05, 0.1, 0.2])
def test_threshold_holds_on_new_data(detector_class, contamination):
    # Trained on clean rows, the detector flags about ``contamination`` of new
    # rows from the same distribution: the threshold comes from out-of-bag
    # scores, not from rows the networks have learned.
    rng = np.random.default_rng(7)
    mixing = rng.normal(size=(5, 5))
    X = rng.normal(size=(300, 5)) @ mixing
    X_new = rng.normal(size=(4000, 5)) @ mixing
    detector = fast(detector_class, n_epochs=20, contamination=contamination).fit(X)
    flagged = (detector.predict(X_new) == -1).mean()
    assert 0.5 * contamination <= flagged <= 2 * contamination, flagged


def test_training_scores_thresholds_and_labels_agree(detector_class, blobs):
    # offset_ flags contamination of the training rows by their out-of-bag
    # scores; predict scores rows with every member, which have seen most of
    # the training rows, so it flags no more of them.
    X = np.vstack(blobs)
    detector = fast(detector_class, contamination=0.1).fit(X)
    scores = detector.decision_scores_
    assert detector.n_estimators_ == 5
    assert scores.dtype == np.float64 and scores.shape == (len(X),)
    assert abs((-scores - detector.offset_ < 0).mean() - 0.1) < 0.01
    np.testing.assert_array_equal(detector.fit_predict(X), detector.predict(X))
    assert (detector.predict(X) == -1).mean() <= 0.1 + 0.02


def test_one_estimator_scores_training_rows_as_score_samples(detector_class, blobs):
    X = np.vstack(blobs)
    detector = fast(detector_class, n_estimators=1).fit(X)
    np.testing.assert_array_equal(detector.decision_scores_, -detector.score_samples(X))
    assert not hasattr(detector, "member_scaling_")


def test_contamination_auto(detector_class, contaminated):
    X, planted, _, _ = contaminated
    detector = fast(detector_class, contamination="auto", n_epochs=10).fit(X)
    # Robust training drops 10% (AnoGAN's "auto" trains plainly on tables).
    assert detector.trim_fraction_ == (0.0 if detector_class is AnoGANDetector else 0.1)
    robust = fast(detector_class, contamination="auto", robust_training=True).fit(X[:40])
    assert robust.trim_fraction_ == 0.1
    q1, q3 = np.percentile(detector.decision_scores_, [25, 75])
    assert detector.offset_ == pytest.approx(-(q3 + 1.5 * (q3 - q1)))
    flagged = -detector.decision_scores_ - detector.offset_ < 0
    # The Tukey fence flags a share of its own choosing, mostly the planted rows.
    assert 0 < flagged.mean() < 0.5
    assert planted[flagged].mean() > 0.5


def test_ensemble_members_train_on_their_own_rows(detector_class, blobs, monkeypatch):
    X = np.vstack(blobs)
    seen = []
    original = detector_class._train_step

    def spy(self, x, optimizers):
        seen.append(x.reshape(self.n_estimators_, -1, x.shape[1]).clone())
        return original(self, x, optimizers)

    monkeypatch.setattr(detector_class, "_train_step", spy)
    detector = fast(detector_class, n_estimators=4, n_epochs=3).fit(X)
    scaled = detector._to_tensor(X, clip_to_bounds=True).to(detector.device_)
    # Every batch holds batch_size rows per member; each member sees about
    # half of the rows (each row trains ceil(4 / 2) = 2 of the 4 members).
    assert all(batch.shape[:2] == (4, 16) for batch in seen)
    for member in range(4):
        rows = torch.cat([batch[member] for batch in seen])
        found = (torch.cdist(rows, scaled) == 0).any(0)
        assert 0.3 < found.float().mean() < 0.7
    assert detector.member_scaling_.shape == (2, 4)


def test_ensemble_score_is_the_mean_of_standardised_members(blobs):
    from skanomaly import GANomalyDetector

    X = np.vstack(blobs)
    detector = fast(GANomalyDetector, n_estimators=3).fit(X)
    with torch.no_grad():
        nets = detector._network_namespace()
        scaled = detector._to_tensor(X).to(detector.device_)
        members = detector._member_scores(nets, scaled).double().cpu().numpy()
    center, spread = detector.member_scaling_
    expected = ((members - center) / spread).mean(1)
    np.testing.assert_allclose(-detector.score_samples(X), expected, rtol=1e-5, atol=1e-6)


def test_members_score_only_the_rows_asked_for(detector_class, blobs):
    # The training scores are computed only where a member is out of a
    # row's bag: each wanted entry equals, bit for bit, the one computed
    # when every member scores every row (rows then share other chunks).
    X = np.vstack(blobs)
    detector = fast(detector_class, n_estimators=3).fit(X)
    X = np.vstack([X, X + 0.1, X - 0.1])  # several chunks of 256 rows
    wanted = np.random.default_rng(0).random((len(X), 3)) < [0.2, 0.5, 0.9]
    every = detector._raw_member_scores(X)
    some = detector._raw_member_scores(X, wanted)
    np.testing.assert_array_equal(some[wanted], every[wanted])
    assert not some[~wanted].any()


@pytest.mark.parametrize("n_estimators", [0, 2.5, "many"])
def test_bad_n_estimators(detector_class, blobs, n_estimators):
    with pytest.raises((ValueError, TypeError), match="n_estimators"):
        fast(detector_class, n_estimators=n_estimators).fit(np.vstack(blobs))


def test_images_train_one_model(detector_class, digits_images):
    X = digits_images[0][:40]
    with pytest.raises(ValueError, match="n_estimators=3: ensembles are built for tabular"):
        fast(detector_class, n_estimators=3).fit(X)


def test_too_few_rows_per_member(detector_class):
    X = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="fewer than 2 training rows"):
        fast(detector_class, n_estimators=200).fit(X)


def test_robust_training_auto_is_for_tables(detector_class, blobs, digits_images):
    images = digits_images[0][:40]
    assert fast(detector_class, n_filters=4).fit(images).trim_fraction_ == 0.0
    trimmed = fast(detector_class, n_filters=4, robust_training=True).fit(images)
    assert trimmed.trim_fraction_ == 0.1
    # AnoGAN's "auto" trains plainly on tables too (docs/training.md).
    on_tables = 0.0 if detector_class is AnoGANDetector else 0.1
    assert fast(detector_class).fit(np.vstack(blobs)).trim_fraction_ == on_tables
    assert fast(detector_class, robust_training=True).fit(np.vstack(blobs)).trim_fraction_ == 0.1


def test_a_member_far_worse_than_the_others_is_not_counted():
    # Out-of-bag scores of 4 members; member 3's typical score is 5 times the
    # median member's: it is left out of every row's combined score but of
    # the rows it alone scores honestly.
    detector = AnoGANDetector()
    rng = np.random.default_rng(0)
    scores = rng.uniform(1, 2, size=(40, 4)) * [1.0, 1.2, 0.9, 5.0]
    honest = np.zeros((40, 4), dtype=bool)
    honest[np.arange(40), np.arange(40) % 4] = True  # one honest member a row
    honest[:20, 3] = True  # rows 0-19: member 3 and another
    combined = detector._combine_member_scores(scores, honest)
    center, spread = detector.member_scaling_
    standardised = (scores - center) / spread
    np.testing.assert_array_equal(detector._counted_members(), [True, True, True, False])
    others = honest[:, :3]
    alone = ~others.any(1)  # member 3 is these rows' only honest scorer
    assert alone.sum() == 10
    expected = np.where(
        alone,
        standardised[:, 3],
        (standardised[:, :3] * others).sum(1) / np.maximum(others.sum(1), 1),
    )
    np.testing.assert_allclose(combined, expected)
    # Within the ratio (twice the median member's) every member counts.
    assert detector._counted_members(np.array([1.0, 1.1, 0.9, 2.0])).all()
    # Detectors whose members all count: the plain mean of the honest scores.
    from skanomaly import GANomalyDetector

    plain = GANomalyDetector()._combine_member_scores(scores, honest)
    np.testing.assert_allclose(plain, (standardised * honest).sum(1) / honest.sum(1))


def test_anogan_leaves_out_a_member_whose_generator_failed(blobs):
    # Member 0's generator is broken at the end of training (its output moved
    # far from the data): its out-of-bag losses are far above its siblings',
    # so it is left out of the score and the reconstruction, which then
    # equal the other members' mean and still rank the outliers first.
    from skanomaly._training import Callback, training_callbacks

    class BreakMemberZero(Callback):
        def on_train_end(self, loop):
            with torch.no_grad():
                loop.detector.generator_.head.bias[0] += 20.0

    inliers, outliers = blobs
    X = np.vstack([inliers, outliers])
    with training_callbacks(BreakMemberZero()):
        detector = fast(AnoGANDetector, n_estimators=3, n_epochs=20).fit(inliers)
    np.testing.assert_array_equal(detector._counted_members(), [False, True, True])
    members = detector._raw_member_scores(X)
    center, spread = detector.member_scaling_
    expected = ((members - center) / spread)[:, 1:].mean(1)
    np.testing.assert_allclose(-detector.score_samples(X), expected, rtol=1e-5, atol=1e-6)
    y = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
    assert roc_auc_score(y, -detector.score_samples(X)) > 0.95
    # The reconstruction: the counted members' mean, computed as scoring
    # does (one padded chunk, so that every row takes the same kernels).
    with detector._threads():
        nets = detector._network_namespace()
        ((chunk, n_rows),) = detector._chunks(X[:8])
        every = detector._reconstruct(nets, detector._fold(chunk)).detach()
    every = every.reshape(3, len(chunk), -1)[:, :n_rows]
    np.testing.assert_allclose(
        detector.reconstruct(X[:8]), detector._from_tensor(every[1:].mean(0)), rtol=1e-6
    )
