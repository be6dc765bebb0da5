"""GANomaly (Akcay, Atapour-Abarghouei & Breckon, ACCV 2018).

"GANomaly: Semi-Supervised Anomaly Detection via Adversarial Training",
https://arxiv.org/abs/1805.06725.

The generator is an encoder -> decoder -> encoder: ``z = G_E(x)``,
``x_hat = G_D(z)``, ``z_hat = E(x_hat)``.  It is trained with

    L_G = w_adv * ||f(x) - f(x_hat)||_2 + w_con * ||x - x_hat||_1 + w_enc * ||z - z_hat||_2

(feature matching on the discriminator's feature layer ``f``, contextual
and encoder losses), while the discriminator ``D`` learns real versus
reconstructed by binary cross-entropy; as in the reference code, ``D`` is
re-initialised when its loss collapses below 1e-5.  The anomaly score is
``A(x) = mean((z - z_hat)^2)``: normal samples re-encode consistently.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import BaseGANDetector
from .._training import detached, update
from ..losses import adversarial_per_row, batch_mean, l1_per_row, l2_per_row
from ..networks import EncoderDecoderEncoder, reinitialize
from ._docstring import fill_doc

__all__ = ["GANomalyDetector"]


@fill_doc
class GANomalyDetector(BaseGANDetector):
    """GANomaly anomaly detector (Akcay et al. 2018).

    An encoder-decoder-encoder generator, trained adversarially on normal data.

    %(parameters)s
    adv_weight : float, default=1.0
        ``w_adv``, weight of the adversarial (feature matching) loss.
    con_weight : float, default=50.0
        ``w_con``, weight of the contextual (L1 reconstruction) loss.
    enc_weight : float, default=1.0
        ``w_enc``, weight of the encoder (latent L2) loss.
    anomaly_score : {"auto", "latent", "reconstruction", "combined"}, default="auto"
        What the score measures: the latent error ``mean((z - z_hat)^2)``
        (the paper), the reconstruction error ``mean(|x - x_hat|)``, or
        ``(1 - score_weight) * latent + score_weight * reconstruction`` with
        each term divided by its mean over the training data (the weighted
        score of Skip-GANomaly, Akcay et al. 2019, without its test-set
        normalisation). ``"auto"``: ``"latent"`` on images, ``"combined"``
        on tabular data, where it ranks anomalies better (see Notes).
    score_weight : float, default=0.9
        Weight of the reconstruction term with ``anomaly_score="combined"``,
        in [0, 1].

    Attributes
    ----------
    generator_ : EncoderDecoderEncoder
        The trained generator ``(G_E, G_D, E)``.
    discriminator_ : torch.nn.Module
        The trained discriminator.
    history_ : dict of str to list of float
        Mean loss of each epoch: ``loss_d``, ``loss_g``, ``loss_adv``,
        ``loss_con``, ``loss_enc``; with ``early_stopping``, ``val_loss``.
    anomaly_score_ : str
        The score used: ``anomaly_score`` resolved.
    score_scale_ : ndarray of shape (2,)
        With ``anomaly_score_ == "combined"``: the mean latent and
        reconstruction errors of the training data, which divide the two terms.
    %(shared_attributes)s

    See Also
    --------
    AnoGANDetector, EGBADDetector : the other GAN-based detectors.

    Notes
    -----
    On images the anomaly score lives in the latent space, as in the paper;
    ``reconstruct`` and ``anomaly_map`` give ``x_hat = G_D(G_E(x))`` and
    ``|x - x_hat|`` for inspection. On tabular data the latent error ranks
    anomalies worse than the reconstruction error (mean ROC-AUC over the 14
    shared ADBench sets, three seeds: 0.785 against 0.842 for the combined
    score, with the default networks and 600 steps), so ``"auto"`` combines
    the two there (docs/training.md).

    After training, every batch-norm layer's statistics are recomputed with
    the final weights on the training data (real data only for the
    discriminator), so that scores belong to the final weights rather than
    to running averages collected while the weights moved.  Scores are
    computed in float32 on fixed-size chunks of rows, so that a row's score
    does not depend on the rows scored with it.

    References
    ----------
    .. [1] S. Akcay, A. Atapour-Abarghouei, T. P. Breckon. "GANomaly:
       Semi-Supervised Anomaly Detection via Adversarial Training".
       ACCV 2018.

    %(examples)s
    """

    # The settings of the example in the docstring (``%(examples)s``).
    _doc_example_params = "n_epochs=5"

    # ``n_epochs="auto"`` on tables: 1,200 steps per member (ADBench's 14
    # shared sets, 3 seeds: mean ROC-AUC 0.848 against 0.842 after 600;
    # docs/training.md). On images: 600 steps on up to 500 images, falling
    # as 1 / sqrt(n) to 300 on 2,000 and more (4 epochs on 6,000 instead of
    # 7). Measured needs: more than 300 steps on 107 digits, about 300 on
    # 500 Fashion-MNIST images, 200-300 on 2,000, 300-400 on the easy
    # 6,000-image classes (docs/training.md).
    _auto_steps = {"tabular": 1200, "image": 600}
    _auto_steps_shrink = {"tabular": None, "image": (500, 0.5)}

    _parameter_constraints: dict = BaseGANDetector._parameter_constraints | {
        "adv_weight": [Interval(Real, 0, None, closed="left")],
        "con_weight": [Interval(Real, 0, None, closed="left")],
        "enc_weight": [Interval(Real, 0, None, closed="left")],
        "anomaly_score": [StrOptions({"auto", "latent", "reconstruction", "combined"})],
        "score_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        *,
        adv_weight=1.0,
        con_weight=50.0,
        enc_weight=1.0,
        anomaly_score="auto",
        score_weight=0.9,
        **params,
    ):
        super().__init__(**params)
        self.adv_weight = adv_weight
        self.con_weight = con_weight
        self.enc_weight = enc_weight
        self.anomaly_score = anomaly_score
        self.score_weight = score_weight

    def _build_networks(self):
        backbone = self._backbone()
        generator = EncoderDecoderEncoder(
            backbone.encoder(), backbone.decoder(), backbone.encoder()
        )
        self._register_network("generator_", generator)
        self._register_network("discriminator_", backbone.discriminator())

    def _make_optimizers(self):
        return {"g": self._adam(self.generator_), "d": self._adam(self.discriminator_)}

    def _train_step(self, x, optimizers):
        generator, discriminator = self.generator_, self.discriminator_
        x_hat, z, z_hat = generator(x)
        # One discriminator pass serves both updates, as in the reference
        # code: D is updated after G, on the x_hat of before G's update, and
        # its weights do not change in between. Each backward is restricted
        # to its own network's weights (``inputs``), so G's loss gives D no
        # weight gradient and D's loss sends nothing back into G.
        logits_real, features_real = discriminator(x)
        logits_fake, features_fake = discriminator(x_hat)
        adv = l2_per_row(features_fake, features_real.detach())
        con = l1_per_row(x, x_hat)
        enc = l2_per_row(z_hat, z)
        # Robust training: the rows with the highest generator loss (likely
        # anomalies) are left out of both networks' updates.
        weights = self._trim(self.adv_weight * adv + self.con_weight * con + self.enc_weight * enc)
        loss_adv, loss_con, loss_enc = (batch_mean(t, weights) for t in (adv, con, enc))
        loss_g = (
            self.adv_weight * loss_adv + self.con_weight * loss_con + self.enc_weight * loss_enc
        )
        update(optimizers["g"], loss_g, inputs=list(generator.parameters()), retain_graph=True)

        loss_d = 0.5 * (
            batch_mean(adversarial_per_row(logits_real, True), weights)
            + batch_mean(adversarial_per_row(logits_fake, False), weights)
        )
        update(optimizers["d"], loss_d, inputs=list(discriminator.parameters()))

        losses = {"loss_adv": loss_adv, "loss_con": loss_con, "loss_enc": loss_enc}
        return detached(loss_d=loss_d, loss_g=loss_g, **losses)

    def _end_epoch(self, losses):
        # D has won outright: restart it, as the reference code does (checked
        # once an epoch rather than every step, to spare a host sync a step).
        if float(losses["loss_d"]) < 1e-5:
            reinitialize(self.discriminator_)

    def _calibration_pass(self, nets, x):
        nets.generator(x)
        nets.discriminator(x)

    def _score_terms(self, nets, x):
        """Per-row latent error ``mean((z - z_hat)^2)`` and reconstruction error."""
        x_hat, z, z_hat = nets.generator(x)
        return l2_per_row(z, z_hat), l1_per_row(x, x_hat)

    def _fit_score_scale(self, data):
        self.anomaly_score_ = self.anomaly_score
        if self.anomaly_score == "auto":
            self.anomaly_score_ = "latent" if self.image_shape_ is not None else "combined"
        if self.anomaly_score_ != "combined":
            return
        with torch.no_grad():
            nets = self._network_namespace()
            terms = [
                self._score_terms(nets, self._fold(x.to(self.device_))) for x in data.split(1024)
            ]
        # Each term divided by its mean over the training data, so that
        # ``score_weight`` weighs terms of comparable size.
        means = [float(torch.cat(part).double().mean()) for part in zip(*terms, strict=True)]
        self.score_scale_ = np.maximum(means, np.finfo(np.float32).tiny)

    def _check_loaded(self, fitted):
        if "offset_" in fitted:  # files before 0.3 scored by the parameter, and stored none
            fitted.setdefault("anomaly_score_", self.anomaly_score)
        score = fitted.get("anomaly_score_")
        if score is not None and score not in ("latent", "reconstruction", "combined"):
            raise ValueError(f"anomaly_score_ = {score!r:.40} is not a GANomaly score")

    def _anomaly_score(self, nets, x):
        latent, recon = self._score_terms(nets, x)
        if self.anomaly_score_ == "latent":
            return latent
        if self.anomaly_score_ == "reconstruction":
            return recon
        latent_scale, recon_scale = (float(v) for v in self.score_scale_)
        weight = self.score_weight
        return (1 - weight) * latent / latent_scale + weight * recon / recon_scale

    def _reconstruct(self, nets, x):
        return nets.generator(x)[0]
