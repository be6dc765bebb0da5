"""EGBAD: Efficient GAN-Based Anomaly Detection (Zenati, Foo, Lecouat, Manek &
Chandrasekhar, ICLR 2018 workshop).

"Efficient GAN-Based Anomaly Detection", https://arxiv.org/abs/1802.06222.

A BiGAN (Donahue et al. 2017; Dumoulin et al. 2017) learns, with the
generator ``G(z)``, an encoder ``E(x)``: the joint discriminator ``D(x, z)``
tells real pairs ``(x, E(x))`` from generated pairs ``(G(z), z)``, while
``G`` and ``E`` learn to fool it, which drives ``E`` towards the inverse of
``G``.  The encoder replaces AnoGAN's latent search, so a score is one
forward pass:

    A(x) = (1 - lambda) * ||x - G(E(x))||_1 + lambda * L_D(x)

with ``L_D`` either the feature-matching distance
``||f(x, E(x)) - f(G(E(x)), E(x))||_1`` or the cross-entropy of
``D(G(E(x)), E(x))`` against "real".
"""

from __future__ import annotations

import warnings
from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import BaseGANDetector
from .._training import detached, frozen_weights, update
from ..exceptions import InvertedScoreTermWarning
from ..losses import (
    adversarial_loss,
    adversarial_per_row,
    batch_mean,
    discriminator_loss,
    l1_per_row,
)
from ._docstring import fill_doc

__all__ = ["EGBADDetector"]


@fill_doc
class EGBADDetector(BaseGANDetector):
    """EGBAD anomaly detector (Zenati et al. 2018): a BiGAN with an encoder.

    The encoder learns to invert the generator, so that a sample is scored
    in one forward pass: by its reconstruction through the encoder and the
    generator, and by the discriminator.

    %(parameters)s
    disc_weight : float, default=0.1
        ``lambda``: weight of the discriminator term ``L_D`` in the score, in [0, 1].
    disc_score : {"feature_matching", "cross_entropy"}, default="feature_matching"
        The discriminator term ``L_D``: the L1 distance between the
        discriminator features of ``(x, E(x))`` and ``(G(E(x)), E(x))``,
        or the cross-entropy of ``D(G(E(x)), E(x))`` against "real".

    cycle_weight : float, default=10.0
        Weight of a cycle-consistency loss ``mean(|x - G(E(x))|)`` added to
        the generator and encoder's objective (the explicit form of the
        cycle consistency of ALICE, Li et al. 2017, which ALAD, the authors'
        successor of EGBAD, enforces with a discriminator). ``0`` is the
        paper's pure BiGAN; see Notes for why the default is not.

    Attributes
    ----------
    encoder_ : torch.nn.Module
        The trained encoder ``E(x)``.
    generator_ : torch.nn.Module
        The trained generator ``G(z)``.
    discriminator_ : torch.nn.Module
        The trained joint discriminator, returning ``(logit, f(x, z))``.
    history_ : dict of str to list of float
        Mean loss of each epoch: ``loss_d`` and ``loss_ge`` (generator and
        encoder); with ``early_stopping``, ``val_loss``.
    disc_weight_ : float
        The weight of ``L_D`` in the score: ``disc_weight``, or 0 when the
        term was found inverted after training (see Notes).
    %(shared_attributes)s

    See Also
    --------
    AnoGANDetector : searches the code of each sample instead of encoding it.
    GANomalyDetector : scores in the latent space of an encoder-decoder-encoder.

    Notes
    -----
    Training follows the BiGAN game of the paper with binary cross-entropy:
    ``D`` learns ``(x, E(x))`` as real and ``(G(z), z)`` as fake, ``G`` and
    ``E`` learn the swapped labels (the non-saturating form). ``D``'s target
    for real pairs is 0.9 (one-sided label smoothing, Salimans et al. 2016),
    which keeps it from overpowering ``G`` and ``E`` on small data sets.

    The norms of the score are means over the values (pixels, features) of
    a row rather than sums, so that ``disc_weight`` weighs the two terms the
    same way whatever the input size and the width of ``f``.  Scores are
    computed in float32 on fixed-size chunks of rows, so that a row's score
    does not depend on the rows scored with it.

    The pure BiGAN (``cycle_weight=0``) rarely learns an encoder that
    inverts its generator: on sklearn's digits, one digit normal, its
    reconstructions vary across inputs only 0.14-0.32 as much as the inputs
    do, and it ranks anomalies poorly (ROC-AUC 0.38 for digit 1, 0.77 for
    digit 8). With ``cycle_weight=10`` the reconstructions follow their
    inputs (0.72-0.88) and the ROC-AUCs become 1.00 and 0.96
    (``benchmarks/defaults_check.py``).

    A discriminator that has won can also *invert* the feature-matching
    term: normal rows then get the larger ``L_D``. After training, ``L_D``
    of the training rows is compared with ``L_D`` of the same rows with
    every feature shuffled across rows; if the shuffled rows do not score
    higher, the term is dropped (``disc_weight_ = 0``) with an
    :class:`~skanomaly.exceptions.InvertedScoreTermWarning`.

    After training, every batch-norm layer's statistics are recomputed with
    the final weights on the training data (real pairs only for ``D``).

    References
    ----------
    .. [1] H. Zenati, C. S. Foo, B. Lecouat, G. Manek, V. R. Chandrasekhar.
       "Efficient GAN-Based Anomaly Detection". ICLR 2018 workshop.
    .. [2] J. Donahue, P. Krähenbühl, T. Darrell. "Adversarial Feature
       Learning". ICLR 2017.

    %(examples)s
    """

    # The settings of the example in the docstring (``%(examples)s``).
    _doc_example_params = "n_epochs=20"

    # ``n_epochs="auto"``: on tables 600 steps per member (ADBench's 14
    # shared sets, 3 seeds: mean ROC-AUC 0.839, 0.839 after 1,200 too;
    # docs/training.md); on images about 2,000, the setting the image
    # defaults were validated with (benchmarks/defaults_check.py).
    _auto_steps = {"tabular": 600, "image": 2000}

    _parameter_constraints: dict = BaseGANDetector._parameter_constraints | {
        "disc_weight": [Interval(Real, 0, 1, closed="both")],
        "disc_score": [StrOptions({"feature_matching", "cross_entropy"})],
        "cycle_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self, *, disc_weight=0.1, disc_score="feature_matching", cycle_weight=10.0, **params
    ):
        super().__init__(**params)
        self.disc_weight = disc_weight
        self.disc_score = disc_score
        self.cycle_weight = cycle_weight

    def _build_networks(self):
        backbone = self._backbone()
        self._register_network("encoder_", backbone.encoder())
        self._register_network("generator_", backbone.decoder())
        self._register_network("discriminator_", backbone.joint_discriminator())

    def _make_optimizers(self):
        return {
            "ge": self._adam(self.generator_, self.encoder_),
            "d": self._adam(self.discriminator_),
        }

    def _train_step(self, x, optimizers):
        encoder, generator, discriminator = self.encoder_, self.generator_, self.discriminator_
        z = torch.randn(len(x), self.latent_dim_, device=x.device)
        x_gen = generator(z)
        z_enc = encoder(x)
        weights, cycle = None, None
        if self.cycle_weight or self.trim_fraction_:
            cycle = l1_per_row(x, generator(z_enc))
            # Robust training: the real rows the model reconstructs worst
            # (likely anomalies) are left out of every update.
            weights = self._trim(cycle)

        logits_real, _ = discriminator(x, z_enc.detach())
        logits_fake, _ = discriminator(x_gen.detach(), z)
        loss_d = discriminator_loss(logits_real, logits_fake, weights)
        update(optimizers["d"], loss_d)

        # G and E play against D with the labels swapped.
        with frozen_weights(discriminator):
            logits_real, _ = discriminator(x, z_enc)
            logits_fake, _ = discriminator(x_gen, z)
        loss_ge = 0.5 * (
            adversarial_loss(logits_fake, True)
            + batch_mean(adversarial_per_row(logits_real, False), weights)
        )
        if self.cycle_weight:
            loss_ge = loss_ge + self.cycle_weight * batch_mean(cycle, weights)
        update(optimizers["ge"], loss_ge)

        return detached(loss_d=loss_d, loss_ge=loss_ge)

    def _calibration_pass(self, nets, x):
        z = nets.encoder(x)
        nets.generator(z)
        nets.discriminator(x, z)  # real pairs only

    def _score_terms(self, nets, x):
        """Per-row residual ``||x - G(E(x))||_1`` and discrimination term ``L_D``."""
        z = nets.encoder(x)
        x_hat = nets.generator(z)
        logits_hat, features_hat = nets.discriminator(x_hat, z)
        if self.disc_score == "feature_matching":
            _, features = nets.discriminator(x, z)
            discrimination = l1_per_row(features, features_hat)
        else:
            discrimination = adversarial_per_row(logits_hat, True)
        return l1_per_row(x, x_hat), discrimination

    def _fit_score_scale(self, data):
        # A BiGAN whose discriminator has won can give normal rows a *larger*
        # L_D than rows unlike the data (the term is inverted). Checked
        # without labels: L_D must rank the training rows as more normal than
        # the same rows with each feature shuffled across rows (same
        # marginals, broken structure); otherwise the term is dropped.
        self.disc_weight_ = float(self.disc_weight)
        if not self.disc_weight:
            return
        rows = data[: self._calibration_rows()]
        generator = torch.Generator().manual_seed(0)
        order = torch.argsort(torch.rand(rows.flatten(1).shape, generator=generator), dim=0)
        shuffled = rows.flatten(1).gather(0, order).reshape(rows.shape)
        with torch.no_grad():
            nets = self._network_namespace()
            real = self._score_terms(nets, self._fold(rows.to(self.device_)))[1].mean()
            fake = self._score_terms(nets, self._fold(shuffled.to(self.device_)))[1].mean()
        if not float(fake) > float(real):
            warnings.warn(
                f"the discrimination term of the score ({self.disc_score}) ranks the "
                "training data as less normal than shuffled copies of it: it is "
                "dropped (disc_weight_ = 0), the score is the reconstruction residual.",
                InvertedScoreTermWarning,
                stacklevel=6,  # the caller of fit
            )
            self.disc_weight_ = 0.0

    def _anomaly_score(self, nets, x):
        residual, discrimination = self._score_terms(nets, x)
        weight = self.disc_weight_
        return (1.0 - weight) * residual + weight * discrimination

    def _reconstruct(self, nets, x):
        return nets.generator(nets.encoder(x))
