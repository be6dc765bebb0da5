"""What is specific to EGBAD: the BiGAN networks and the two score variants."""

from __future__ import annotations

import numpy as np
import pytest

from skanomaly import EGBADDetector
from skanomaly.exceptions import InvertedScoreTermWarning
from skanomaly.networks import DCGANJointDiscriminator, MLPJointDiscriminator

from ..conftest import fast


@pytest.mark.parametrize("disc_score", ["feature_matching", "cross_entropy"])
def test_disc_score_variants(disc_score, blobs):
    inliers, outliers = blobs
    detector = fast(EGBADDetector, n_epochs=30, disc_score=disc_score).fit(inliers)
    assert isinstance(detector.discriminator_, MLPJointDiscriminator)
    scores = detector.score_samples(np.vstack([inliers[:50], outliers]))
    assert np.isfinite(scores).all()
    assert scores[:50].mean() > scores[50:].mean()


def test_disc_score_changes_only_the_discriminator_term(blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers[:20], outliers[:5]])
    scores = {}
    for disc_score in ("feature_matching", "cross_entropy"):
        for disc_weight in (0.0, 0.5):
            detector = fast(
                EGBADDetector, disc_score=disc_score, disc_weight=disc_weight, n_estimators=1
            )
            scores[disc_score, disc_weight] = -detector.fit(inliers).score_samples(X)
    # Same seed, same networks: with no discriminator term the variants agree,
    # and the term is the reconstruction residual in the scaled units.
    np.testing.assert_allclose(
        scores["feature_matching", 0.0], scores["cross_entropy", 0.0], rtol=1e-6
    )
    residual = np.abs(X - detector.reconstruct(X)) / detector.scale_
    np.testing.assert_allclose(scores["cross_entropy", 0.0], residual.mean(axis=1), rtol=1e-5)
    assert not np.allclose(scores["feature_matching", 0.5], scores["cross_entropy", 0.5])


def test_image_backbone_uses_joint_conv_discriminator(fitted_image, digits_images):
    detector = fitted_image[EGBADDetector]
    assert isinstance(detector.discriminator_, DCGANJointDiscriminator)
    assert np.isfinite(detector.score_samples(digits_images[0][64:84])).all()


def test_reconstructions_follow_their_inputs(digits_images):
    # The paper's pure BiGAN reconstructs nearly the same image for every
    # input; cycle consistency makes E invert G.
    X, y = digits_images
    digit = X[y == 1]
    detector = EGBADDetector(
        n_epochs=30,
        n_filters=8,
        batch_size=32,
        learning_rate=2e-3,
        cycle_weight=20,
        random_state=0,
    )
    reconstructions = detector.fit(digit).reconstruct(digit)
    diversity = reconstructions.std(axis=0).mean() / digit.std(axis=0).mean()
    assert diversity >= 0.5


def test_inverted_discrimination_term_is_dropped(blobs, monkeypatch):
    original = EGBADDetector._score_terms

    def inverted(self, nets, x):
        residual, discrimination = original(self, nets, x)
        return residual, -discrimination

    monkeypatch.setattr(EGBADDetector, "_score_terms", inverted)
    with pytest.warns(InvertedScoreTermWarning, match="disc_weight_ = 0"):
        detector = fast(EGBADDetector, disc_weight=0.5, n_estimators=1).fit(blobs[0])
    assert detector.disc_weight_ == 0.0
    residual = (np.abs(blobs[1] - detector.reconstruct(blobs[1])) / detector.scale_).mean(1)
    np.testing.assert_allclose(-detector.score_samples(blobs[1]), residual, rtol=1e-5)


def test_sound_discrimination_term_is_kept(blobs):
    # An 8-dim code (the 4-dim default leaves 3) gives this BiGAN room to
    # learn a discriminator that ranks real rows above shuffled ones.
    detector = fast(EGBADDetector, n_epochs=20, disc_weight=0.5, n_estimators=1, latent_dim=8).fit(
        blobs[0]
    )
    assert detector.disc_weight_ == 0.5
