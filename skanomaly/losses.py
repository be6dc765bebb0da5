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
    "feature_matching_loss",
    "l1_per_row",
    "l2_loss",
    "l2_per_row",
]


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against "real" (1) or "fake" (0)."""
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def feature_matching_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between discriminator features ``f(x)`` and ``f(x_hat)``."""
    return F.mse_loss(fake, real)


def l2_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error (the reference GANomaly code's ``l2_loss``)."""
    return F.mse_loss(a, b)


def l1_per_row(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each row (image) of two batches, shape ``(n,)``."""
    return (a - b).abs().flatten(1).mean(1)


def l2_per_row(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of each row (image) of two batches, shape ``(n,)``."""
    return (a - b).pow(2).flatten(1).mean(1)
