"""What is specific to AnoGAN: the latent search and its score.

Batch independence of the search is checked for every detector in
``test_estimator_api.py``; its parameters in ``test_input_validation.py``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from skanomaly import AnoGANDetector

from ..conftest import fast, networks


def test_search_lowers_the_loss_and_leaves_networks_untouched(fitted_tabular, blobs):
    inliers, _ = blobs
    fitted = fitted_tabular[AnoGANDetector]
    nets = list(networks(fitted).values())

    def snapshot():
        return [
            (p.detach().clone(), None if p.grad is None else p.grad.clone())
            for net in nets
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
    # A shallow copy shares the networks: the shared fixture stays as it was.
    start_only = -copy.copy(fitted).set_params(latent_steps=0).score_samples(inliers)
    # Descent from the best starting code improves (almost) every row's fit.
    assert np.mean(searched < start_only) > 0.9
    assert searched.mean() < start_only.mean()


def test_score_is_the_residual_when_disc_weight_is_zero(blobs):
    inliers, outliers = blobs
    detector = fast(AnoGANDetector, latent_steps=10, disc_weight=0.0, n_estimators=1).fit(inliers)
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


def test_auto_search_length_is_50_steps_on_tables_and_100_on_images(blobs, digits_images):
    inliers, outliers = blobs
    X = np.vstack([inliers[:20], outliers[:5]])
    images = digits_images[0][:40]
    tabular = fast(AnoGANDetector, n_epochs=2, latent_steps="auto").fit(inliers)
    image_model = fast(AnoGANDetector, n_epochs=1, latent_steps="auto").fit(images)
    for detector, data, steps in ((tabular, X, 50), (image_model, images[:8], 100)):
        auto = detector.score_samples(data)
        np.testing.assert_array_equal(
            auto, copy.copy(detector).set_params(latent_steps=steps).score_samples(data)
        )
        other = copy.copy(detector).set_params(latent_steps=150 - steps).score_samples(data)
        assert not np.array_equal(auto, other)
