"""What is specific to EGBAD: the BiGAN networks and the two score variants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skanomaly import EGBADDetector
from skanomaly.networks import DCGANJointDiscriminator, MLPJointDiscriminator

from .conftest import fast


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
            detector = fast(EGBADDetector, disc_score=disc_score, disc_weight=disc_weight)
            scores[disc_score, disc_weight] = -detector.fit(inliers).score_samples(X)
    # Same seed, same networks: with no discriminator term the variants agree,
    # and the term is the reconstruction residual in the scaled units.
    np.testing.assert_allclose(
        scores["feature_matching", 0.0], scores["cross_entropy", 0.0], rtol=1e-6
    )
    residual = np.abs(X - detector.reconstruct(X)) / detector.scale_
    np.testing.assert_allclose(scores["cross_entropy", 0.0], residual.mean(axis=1), rtol=1e-5)
    assert not np.allclose(scores["feature_matching", 0.5], scores["cross_entropy", 0.5])


def test_score_is_one_forward_pass_independent_of_batch(blobs):
    inliers, outliers = blobs
    detector = fast(EGBADDetector).fit(inliers)
    X = np.vstack([inliers, outliers])
    together = detector.score_samples(X)
    alone = np.array([detector.score_samples(row[None])[0] for row in X[::11]])
    np.testing.assert_allclose(together[::11], alone, rtol=1e-9)
    reversed_order = detector.score_samples(X[::-1])[::-1]
    np.testing.assert_allclose(reversed_order, together, rtol=1e-9)


def test_image_backbone_uses_joint_conv_discriminator(digits_images):
    X, y = digits_images
    detector = fast(EGBADDetector, n_filters=8).fit(X[y == 1][:60])
    assert isinstance(detector.discriminator_, DCGANJointDiscriminator)
    assert detector.reconstruct(X[:4]).shape == (4, 1, 8, 8)
    assert np.isfinite(detector.score_samples(X[:20])).all()


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 10, 21)])
def test_joint_discriminator_shapes(shape):
    discriminator = DCGANJointDiscriminator(shape, latent_dim=5, n_filters=4)
    logits, features = discriminator(torch.zeros(6, *shape), torch.zeros(6, 5))
    assert logits.shape == (6,)
    assert features.shape == (6, 64)


def test_training_history(blobs):
    detector = fast(EGBADDetector, n_epochs=3).fit(blobs[0])
    assert set(detector.history_) == {"loss_d", "loss_ge"}
    assert all(len(v) == 3 and np.isfinite(v).all() for v in detector.history_.values())


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"disc_score": "score"}, "disc_score"),
        ({"disc_score": "fm"}, "disc_score"),
        ({"disc_weight": -0.1}, "disc_weight"),
    ],
)
def test_invalid_parameters(params, match, blobs):
    with pytest.raises(ValueError, match=match):
        fast(EGBADDetector, **params).fit(blobs[0])


def test_divergence_is_reported():
    X = np.random.default_rng(0).normal(size=(64, 4)) * 1e3
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+"):
        fast(EGBADDetector, learning_rate=1e12, n_epochs=20).fit(X)
