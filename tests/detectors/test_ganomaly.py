"""What is specific to GANomaly: the choice of anomaly score, the training step."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from skanomaly import GANomalyDetector
from skanomaly.losses import adversarial_loss, feature_matching_loss, l2_loss

from ..conftest import fast


def test_score_choice(blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers[:20], outliers[:5]])
    scores = {}
    for choice in ("latent", "reconstruction", "combined"):
        detector = fast(GANomalyDetector, anomaly_score=choice, n_estimators=1).fit(inliers)
        scores[choice] = -detector.score_samples(X)
    residual = (np.abs(X - detector.reconstruct(X)) / detector.scale_).mean(axis=1)
    np.testing.assert_allclose(scores["reconstruction"], residual, rtol=1e-5)
    latent_scale, recon_scale = detector.score_scale_
    expected = 0.1 * scores["latent"] / latent_scale + 0.9 * scores["reconstruction"] / recon_scale
    np.testing.assert_allclose(scores["combined"], expected, rtol=1e-5)
    # The scales are the training means of each term.
    train_latent = (
        -fast(GANomalyDetector, anomaly_score="latent", n_estimators=1)
        .fit(inliers)
        .score_samples(inliers)
    )
    assert latent_scale == pytest.approx(train_latent.mean(), rel=1e-5)


def _plain_train_step(detector, x, optimizers):
    """GANomaly's update written out: a fresh discriminator pass for each network."""
    generator, discriminator = detector.generator_, detector.discriminator_
    x_hat, z, z_hat = generator(x)
    _, features_real = discriminator(x)
    _, features_fake = discriminator(x_hat)
    loss_g = (
        detector.adv_weight * feature_matching_loss(features_real.detach(), features_fake)
        + detector.con_weight * (x - x_hat).abs().mean()
        + detector.enc_weight * l2_loss(z_hat, z)
    )
    optimizers["g"].zero_grad(set_to_none=True)
    loss_g.backward()
    optimizers["g"].step()
    logits_real, _ = discriminator(x)
    logits_fake, _ = discriminator(x_hat.detach())
    loss_d = 0.5 * (adversarial_loss(logits_real, True) + adversarial_loss(logits_fake, False))
    optimizers["d"].zero_grad(set_to_none=True)  # also drops what G's loss left in D
    loss_d.backward()
    optimizers["d"].step()


def test_shared_discriminator_pass_gives_the_plain_update(blobs):
    """Sharing D's forward pass between the two updates changes no weight."""
    inliers, _ = blobs
    fitted = fast(
        GANomalyDetector, n_epochs=1, random_state=0, n_estimators=1, robust_training=False
    ).fit(inliers)
    x = fitted._to_tensor(inliers[:32]).to(fitted.device_)
    states = []
    for step in (GANomalyDetector._train_step, _plain_train_step):
        detector = copy.deepcopy(fitted)
        for net in detector._networks().values():
            net.train()
        optimizers = detector._make_optimizers()
        for _ in range(3):
            step(detector, x, optimizers)
        # Weights only: the plain step's extra passes also move batch norm's
        # running averages, which fit replaces anyway (precise BN).
        states.append(
            {
                f"{name}.{key}": value.detach().clone()
                for name, net in detector._networks().items()
                for key, value in net.named_parameters()
            }
        )
    shared, plain = states
    for key, value in shared.items():
        torch.testing.assert_close(value, plain[key], rtol=1e-6, atol=1e-7, msg=key)
