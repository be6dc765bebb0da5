"""What is specific to AnoGAN: the batched latent search and its score."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skanomaly import AnoGANDetector

from .conftest import fast


@pytest.fixture(scope="module")
def fitted(blobs):
    inliers, _ = blobs
    return fast(AnoGANDetector, n_epochs=10, latent_steps=30).fit(inliers)


def test_batched_search_equals_row_by_row(fitted, blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers[:30], outliers[:10]])
    together = fitted.score_samples(X)
    alone = np.array([fitted.score_samples(row[None])[0] for row in X])
    np.testing.assert_allclose(together, alone, rtol=1e-9, atol=1e-12)
    reconstructed = fitted.reconstruct(X[:5])
    np.testing.assert_allclose(
        reconstructed, np.vstack([fitted.reconstruct(row[None]) for row in X[:5]]), rtol=1e-9
    )


def test_score_does_not_depend_on_batch_companions(fitted, blobs):
    inliers, outliers = blobs
    with_inliers = fitted.score_samples(inliers[:20])
    with_outliers = fitted.score_samples(np.vstack([outliers, inliers[:20]]))[len(outliers) :]
    np.testing.assert_allclose(with_inliers, with_outliers, rtol=1e-9, atol=1e-12)


def test_search_lowers_the_loss_and_leaves_networks_untouched(fitted, blobs):
    inliers, _ = blobs
    networks = [fitted.generator_, fitted.discriminator_]

    def snapshot():
        return [
            (p.detach().clone(), None if p.grad is None else p.grad.clone())
            for net in networks
            for p in [*net.parameters(), *net.buffers()]
        ]

    before = snapshot()
    torch_state = torch.random.get_rng_state()
    searched = -fitted.score_samples(inliers)
    # Weights, batch-norm statistics and gradients: all exactly as after fit.
    for (value, grad), (value_after, grad_after) in zip(before, snapshot(), strict=True):
        assert torch.equal(value, value_after)
        assert (grad is None and grad_after is None) or torch.equal(grad, grad_after)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    start_only = -fitted.set_params(latent_steps=0).score_samples(inliers)
    fitted.set_params(latent_steps=30)
    # Descent from the best starting code improves (almost) every row's fit.
    assert np.mean(searched < start_only) > 0.9
    assert searched.mean() < start_only.mean()


def test_score_is_the_residual_when_disc_weight_is_zero(blobs):
    inliers, outliers = blobs
    detector = fast(AnoGANDetector, latent_steps=10, disc_weight=0.0).fit(inliers)
    X = np.vstack([inliers[:10], outliers[:5]])
    residual = np.abs(X - detector.reconstruct(X)) / detector.scale_
    np.testing.assert_allclose(-detector.score_samples(X), residual.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(detector.anomaly_map(X), np.abs(X - detector.reconstruct(X)))


def test_starting_codes_are_fixed_at_fit(blobs):
    inliers, _ = blobs
    first = fast(AnoGANDetector, n_epochs=1, latent_steps=2).fit(inliers)
    again = fast(AnoGANDetector, n_epochs=1, latent_steps=2).fit(inliers)
    other = fast(AnoGANDetector, n_epochs=1, latent_steps=2, random_state=1).fit(inliers)
    assert first.latent_candidates_.shape[1] == first.latent_dim_
    np.testing.assert_array_equal(first.latent_candidates_, again.latent_candidates_)
    assert not np.array_equal(first.latent_candidates_, other.latent_candidates_)


def test_image_search(digits_images):
    X, y = digits_images
    detector = fast(AnoGANDetector, n_filters=8, latent_steps=5).fit(X[y == 0][:60])
    scores = detector.score_samples(X[:12])
    alone = np.array([detector.score_samples(X[i : i + 1])[0] for i in range(12)])
    np.testing.assert_allclose(scores, alone, rtol=1e-9, atol=1e-12)
    assert detector.reconstruct(X[:3]).shape == (3, 1, 8, 8)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"latent_steps": -1}, "latent_steps"),
        ({"latent_lr": 0.0}, "latent_lr"),
        ({"disc_weight": 1.5}, "disc_weight"),
    ],
)
def test_invalid_search_parameters(params, match, blobs):
    with pytest.raises(ValueError, match=match):
        fast(AnoGANDetector, **params).fit(blobs[0])


def test_divergence_is_reported():
    X = np.random.default_rng(0).normal(size=(64, 4)) * 1e3
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+"):
        fast(AnoGANDetector, learning_rate=1e12, n_epochs=20, latent_steps=2).fit(X)
