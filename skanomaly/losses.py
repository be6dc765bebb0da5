"""Every loss used by the detectors, in one place.

Reductions are means over the batch (and over features), as in the
reference implementations, so that loss weights do not depend on the
batch size or the input size.  ``*_per_row`` variants keep the batch
dimension: they are the anomaly scores, and the training losses before
the batch mean.

Contamination-robust training drops, from each batch, the rows with the
highest loss (:func:`trim_weights`) and averages the others
(:func:`batch_mean`). A batch may hold the row-stacked batches of several
ensemble members (``n_groups`` equal blocks): rows are ranked and dropped
within their own block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "adversarial_loss",
    "adversarial_per_row",
    "batch_mean",
    "discriminator_loss",
    "feature_matching_loss",
    "group_mean",
    "l1_per_row",
    "l2_loss",
    "l2_per_row",
    "mean_feature_matching_loss",
    "residual_score",
    "trim_weights",
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


def discriminator_loss(
    logits_real: torch.Tensor, logits_fake: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The GAN discriminator's loss: real rows towards 0.9 (one-sided smoothing), fakes to 0.

    The mean of the two cross-entropies; the real rows' term is weighted
    by ``weights`` (robust training's, see :func:`trim_weights`).
    """
    real_loss = adversarial_per_row(logits_real, True, label_smoothing=_LABEL_SMOOTHING)
    return 0.5 * (batch_mean(real_loss, weights) + adversarial_loss(logits_fake, False))


def feature_matching_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mean squared distance between discriminator features ``f(x)`` and ``f(x_hat)``."""
    return F.mse_loss(fake, real)


def mean_feature_matching_loss(
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    n_groups: int = 1,
    real_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared difference between the batch means of ``f(x)`` and ``f(G(z))``.

    The generator's feature matching objective of Salimans et al. (2016):
    match the statistics of real data rather than fool one discriminator.
    Means are taken per block of rows (``n_groups``, one per ensemble
    member), the real ones weighted by ``real_weights`` (see
    :func:`group_mean`).
    """
    if n_groups == 1 and real_weights is None:
        return F.mse_loss(fake.mean(0), real.mean(0))
    return F.mse_loss(group_mean(fake, n_groups), group_mean(real, n_groups, real_weights))


def trim_weights(
    criterion: torch.Tensor, fraction: float, *, n_groups: int = 1
) -> torch.Tensor | None:
    """Row weights that drop the ``fraction`` of rows with the highest ``criterion``.

    Within each of ``n_groups`` equal blocks of rows, the
    ``round(fraction * block)`` rows with the highest ``criterion`` (a
    per-row loss, the larger the less normal; at most ``block - 1``, so that
    a row of each block stays) get weight 0 and the others
    equal weights summing to 1 over the whole batch, so that
    ``batch_mean(loss, weights)`` is the mean loss of the kept rows (loss
    truncation: the rows the model explains worst, likely anomalies, do not
    pull the model towards them). ``None`` when nothing is dropped:
    training is then exactly the untrimmed one.

    Examples
    --------
    >>> import torch
    >>> trim_weights(torch.tensor([0.1, 5.0, 0.2, 0.3]), 0.25)
    tensor([0.3333, 0.0000, 0.3333, 0.3333])
    >>> trim_weights(torch.tensor([0.1, 5.0]), 0.1) is None
    True
    """
    block = len(criterion) // n_groups
    # At least one row of each block stays.
    n_drop = min(int(round(fraction * block)), block - 1)
    if n_drop <= 0:
        return None
    blocks = criterion.detach().reshape(n_groups, block)
    dropped = blocks.topk(n_drop, dim=1).indices
    keep = torch.ones_like(blocks).scatter_(1, dropped, 0.0)
    return (keep / (n_groups * (block - n_drop))).reshape(-1)


def batch_mean(per_row: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of a per-row loss over the batch, or its ``weights``-weighted sum."""
    return per_row.mean() if weights is None else (per_row * weights).sum()


def group_mean(
    values: torch.Tensor, n_groups: int, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of ``(n, ...)`` rows within each of ``n_groups`` equal blocks: ``(n_groups, ...)``.

    With ``weights`` (from :func:`trim_weights`), the weighted mean of the
    kept rows of each block.
    """
    blocks = values.reshape(n_groups, -1, *values.shape[1:])
    if weights is None:
        return blocks.mean(1)
    w = weights.reshape(n_groups, -1, *([1] * (values.dim() - 1)))
    return (blocks * w).sum(1) / w.sum(1)


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
