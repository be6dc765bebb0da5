"""What is specific to GANomaly: the choice of anomaly score."""

from __future__ import annotations

import numpy as np
import pytest

from skanomaly import GANomalyDetector

from .conftest import fast


def test_score_choice(blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers[:20], outliers[:5]])
    scores = {}
    for choice in ("latent", "reconstruction", "combined"):
        detector = fast(GANomalyDetector, anomaly_score=choice).fit(inliers)
        scores[choice] = -detector.score_samples(X)
    residual = (np.abs(X - detector.reconstruct(X)) / detector.scale_).mean(axis=1)
    np.testing.assert_allclose(scores["reconstruction"], residual, rtol=1e-5)
    latent_scale, recon_scale = detector.score_scale_
    expected = 0.1 * scores["latent"] / latent_scale + 0.9 * scores["reconstruction"] / recon_scale
    np.testing.assert_allclose(scores["combined"], expected, rtol=1e-5)
    # The scales are the training means of each term.
    train_latent = -fast(GANomalyDetector).fit(inliers).score_samples(inliers)
    assert latent_scale == pytest.approx(train_latent.mean(), rel=1e-5)
