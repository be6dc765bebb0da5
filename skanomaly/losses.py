"""Every loss used by the detectors, in one place.

Reductions are means over the batch (and over features), as in the
reference implementations, so that loss weights do not depend on the
batch size or the input size.  ``*_per_row`` variants keep the batch
dimension: they are the anomaly scores.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "adversarial_loss",
    "adversarial_per_row",
    "feature_matching_loss",
    "l1_per_row",
    "l2_loss",
    "l2_per_row",
    "mean_feature_matching_loss",
    "residual_score",
]

# One-sided label smoothing of the GAN discriminators: their target for real
# data is 0.9 (Salimans et al. 2016).
_LABEL_SMOOTHING = 0.1


def adversarial_loss(
    logits: torch.Tensor, real: bool, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against "real" (1) or "fake" (0).

    ``label_smoothing`` lowers the "real" target to ``1 - label_smoothing``
    (one-sided label smoothing, Salimans et al. 2016); "fake" stays 0.
    """
    return adversarial_per_row(logits, real, label_smoothing=label_smoothing).mean()


def adversarial_per_row(
    logits: torch.Tensor, real: bool, *, label_smoothing: float = 0.0
) -> torch.Tensor:
    """:func:`adversarial_loss` of each row, shape ``(n,)``."""
    target = torch.full_like(logits, 1.0 - label_smoothing if real else 0.0)
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def feature_matching_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between discriminator features ``f(x)`` and ``f(x_hat)``."""
    return F.mse_loss(fake, real)


def mean_feature_matching_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Squared distance between the batch means of ``f(x)`` and ``f(G(z))``.

    The generator's feature matching objective of Salimans et al. (2016):
    match the statistics of real data rather than fool one discriminator.
    """
    return F.mse_loss(fake.mean(0), real.mean(0))


def l2_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the reference GANomaly code's ``l2_loss``)."""
    return F.mse_loss(a, b)


def l1_per_row(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each row (image) of two batches, shape ``(n,)``."""
    return (a - b).abs().flatten(1).mean(1)


def l2_per_row(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of each row (image) of two batches, shape ``(n,)``."""
    return (a - b).pow(2).flatten(1).mean(1)


def residual_score(
    x: torch.Tensor,
    x_hat: torch.Tensor,
    discrimination: torch.Tensor,
    disc_weight: float,
) -> torch.Tensor:
    """``(1 - disc_weight) * l1_per_row(x, x_hat) + disc_weight * discrimination``.

    The AnoGAN / EGBAD anomaly score: a residual (reconstruction) term and a
    discrimination term per row, both of shape ``(n,)``.
    """
    return (1.0 - disc_weight) * l1_per_row(x, x_hat) + disc_weight * discrimination
