"""AnoGAN (Schlegl, Seeböck, Waldstein, Schmidt-Erfurth & Langs, IPMI 2017).

"Unsupervised Anomaly Detection with Generative Adversarial Networks to
Guide Marker Discovery", https://arxiv.org/abs/1703.05921.

A GAN -- generator ``G(z)`` and discriminator ``D(x)`` with an intermediate
feature layer ``f`` -- learns the normal data.  To score ``x``, the latent
code ``z`` is searched by gradient descent, ``G`` and ``D`` frozen, to
minimise

    L(z) = (1 - lambda) * ||x - G(z)||_1 + lambda * ||f(x) - f(G(z))||_1

(the residual and discrimination losses of the paper, eq. 3-5); the anomaly
score is ``A(x) = L(z*)`` at the last step.  Normal samples are well
explained by some ``G(z)``; anomalies are not.

The search is batched: one ``z`` tensor for the whole batch, the per-row
losses are summed so that each row's gradient is its own, and Adam keeps
per-element moments, so a batch gives the same ``z*`` as one row at a time.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._base import BaseGANDetector
from .._limits import MAX_START_CODES
from .._training import detached, frozen_weights, update
from ..losses import (
    adversarial_loss,
    discriminator_loss,
    l1_per_row,
    mean_feature_matching_loss,
    residual_score,
)
from ._docstring import fill_doc

__all__ = ["AnoGANDetector"]

# Fixed latent codes drawn at fit time; each row starts its search from the
# one whose image is closest to it (a coarse grid search before descent).
_N_START_CANDIDATES = 64

# ``latent_steps="auto"``: on tables half the search ranks as well (ADBench
# profile, docs/benchmark.md) at half the cost of every score, training
# rows' included; images keep the search their defaults were chosen with.
_AUTO_LATENT_STEPS = {"tabular": 50, "image": 100}


@fill_doc
class AnoGANDetector(BaseGANDetector):
    """AnoGAN anomaly detector (Schlegl et al. 2017) with batched latent search.

    A GAN learns the normal data; a sample is scored by how closely some
    generated sample, found by a search over the code, matches it.

    %(parameters)s
    latent_steps : int or "auto", default="auto"
        Adam steps of the latent search for every scored sample (the paper
        uses 500). ``0`` keeps the best of the starting codes. ``"auto"``:
        50 on tabular data, 100 on images.
    latent_lr : float, default=0.05
        Initial Adam learning rate of the latent search; it decays to zero
        along a cosine over the ``latent_steps`` steps.
    disc_weight : float, default=0.1
        ``lambda``, weight of the discrimination (feature) term of the score
        and of the search loss, in [0, 1].

    Attributes
    ----------
    generator_ : torch.nn.Module
        The trained generator ``G(z)``.
    discriminator_ : torch.nn.Module
        The trained discriminator, returning ``(logit, f(x))``.
    latent_candidates_ : ndarray of shape (64, latent_dim_)
        Fixed codes drawn at fit time; each row's search starts from the one
        that explains it best, so a score never depends on the other rows.
    history_ : dict of str to list of float
        Mean loss of each epoch: ``loss_d``, ``loss_g``, ``loss_adv``,
        ``loss_fm``; with ``early_stopping``, ``val_loss``.
    %(shared_attributes)s

    See Also
    --------
    EGBADDetector : learns an encoder instead of searching, far faster to score.
    GANomalyDetector : scores in the latent space of an encoder-decoder-encoder.

    Notes
    -----
    Training is the standard GAN game with binary cross-entropy, made stable
    by two common devices: one-sided label smoothing (``D``'s target for real
    data is 0.9) and, for ``G``, the non-saturating loss plus feature
    matching on ``f`` (Salimans et al. 2016), which keeps ``G`` covering the
    normal data rather than collapsing onto a few modes that fool ``D``.

    The norms of the score are means over the values (pixels, features) of
    a row rather than sums, so that ``disc_weight`` weighs the two terms the
    same way whatever the input size and the width of ``f``.

    The search starts each row from the one of 64 codes, drawn once at fit
    time, whose image explains the row best, then takes ``latent_steps`` Adam
    steps with a cosine-decayed step size.  Matrix products can change in
    their last bits with the number of rows, and the search would amplify
    that noise: rows are therefore searched in fixed-size chunks (the last
    one padded), so that every row goes through the same kernels and its
    score is the same, bit for bit, whichever rows it is scored with.

    ``robust_training`` is off by default on tables too, unlike the other
    detectors: the share it drops is the rows farthest from every generated
    row of their batch, and early in training those include the normal
    rows of modes the generator has not reached yet; left out of the
    discriminator's "real" class, they stay unreached. On the shared
    ADBench sets the plain ensemble ranked better and depended less on its
    seed; ``robust_training=True`` still suits data whose anomalies lie far
    from all the normal rows (mammography, musk and Stamps ranked better
    with it).

    With several ensemble members, a member whose median score of the rows
    out of its bag is more than twice the median member's (a GAN that
    failed to learn the data) is left out of the combined score and of
    ``reconstruct``; ``member_scaling_[0]`` holds those medians.

    Scoring costs about ``latent_steps`` forward and backward passes per
    sample (in batches), so it is much slower than EGBAD or GANomaly;
    ``reconstruct`` and ``anomaly_map`` run the same search and give
    ``G(z*)`` and ``|x - G(z*)|``.

    References
    ----------
    .. [1] T. Schlegl, P. Seeböck, S. M. Waldstein, U. Schmidt-Erfurth,
       G. Langs. "Unsupervised Anomaly Detection with Generative Adversarial
       Networks to Guide Marker Discovery". IPMI 2017.
    .. [2] T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford,
       X. Chen. "Improved Techniques for Training GANs". NeurIPS 2016.

    %(examples)s
    """

    # The settings of the example in the docstring (``%(examples)s``).
    _doc_example_params = "n_epochs=20, latent_steps=20"

    # ``n_epochs="auto"``: about 2,000 steps on images, the setting the
    # defaults were validated with (benchmarks/defaults_check.py); on tables
    # 3,000 per member, which ranked the ADBench sets at 0.805 against 0.795
    # after 2,000 (docs/benchmark.md).
    _auto_steps = {"tabular": 3000, "image": 2000}
    # Members with more than 3,200 rows each need fewer: on mammography and
    # shuttle (about 4,700 and 6,000 rows a member) 2,600 and 2,250 steps
    # ranked at 0.880 and 0.994 against 0.866 and 0.993 after 3,000, and a
    # 10,000-row fit takes about 8 s instead of 10. Annthyroid (3,000 a
    # member) lost a split after 2,830, so the shrink starts above it.
    _auto_steps_shrink = {"tabular": (3200, 2 / 3), "image": None}
    _tabular_sizes_doc = (
        "half the number of features (2 to 64)",
        "two layers, the first twice the number of features rounded up to "
        "a power of two\n        (64 to 512), the second half as wide",
    )
    _score_needs_grad = True  # the latent search
    # ``robust_training="auto"`` trains plainly on tables too. AnoGAN's
    # trimming criterion, a row's distance to the nearest generated row,
    # also drops the normal rows of whatever modes the generator has not
    # reached yet, so that it never learns them: on the ADBench profile the
    # plain ensemble ranked better and depended less on the seed (letter
    # 0.71 against 0.57, glass and annthyroid steadier; mammography, Stamps
    # and musk lost), see docs/training.md.
    _robust_auto = {"tabular": False, "image": False}
    # Now and then one member's GAN fails on a table (its generator covers
    # the rows it did not train on far worse than its siblings', and its
    # ranking is poor, even inverted): such a member is left out. On the
    # ADBench profile this took the seed spread from 0.024 to 0.020 and the
    # ROC-AUC from 0.805 to 0.808 (docs/training.md).
    _member_loss_ratio = 2.0
    _val_loss_doc = (
        "the AnoGAN loss of the held-out rows at their best fixed start code, "
        "a cheap stand-in for the full search"
    )

    _parameter_constraints: dict = BaseGANDetector._parameter_constraints | {
        "latent_steps": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "latent_lr": [Interval(Real, 0, None, closed="neither")],
        "disc_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, *, latent_steps="auto", latent_lr=0.05, disc_weight=0.1, **params):
        super().__init__(**params)
        self.latent_steps = latent_steps
        self.latent_lr = latent_lr
        self.disc_weight = disc_weight

    def _tabular_sizes(self, n_features: int) -> tuple[tuple[int, ...], int]:
        """Wide MLPs with a code of half the features, unlike the other detectors.

        AnoGAN scores a row by how well some generated row matches it: a
        small generator with a 4-dimensional code covers the data too
        coarsely. On the shared ADBench sets (5 members, robust training,
        2,000 steps) the widths and code of 0.2 rank at a mean ROC-AUC of
        0.796 against 0.753 for the (32, 16) networks with a 4-dim code, at
        about twice the fit time (docs/training.md).
        """
        width = int(min(max(2 ** math.ceil(math.log2(2 * n_features)), 64), 512))
        return (width, width // 2), int(min(max(n_features // 2, 2), 64))

    def _build_networks(self):
        backbone = self._backbone()
        self._register_network("generator_", backbone.decoder())
        self._register_network("discriminator_", backbone.discriminator())
        # Plain numbers, like the scaling: nothing to move between devices.
        self.latent_candidates_ = torch.randn(_N_START_CANDIDATES, self.latent_dim_).numpy()

    def _probe(self, search_steps):
        probe = super()._probe(search_steps)
        probe.latent_steps = min(probe._latent_steps(), search_steps)
        if getattr(probe, "latent_candidates_", None) is not None:  # older files lack them
            probe.latent_candidates_ = probe.latent_candidates_[:1]
        return probe

    def _check_loaded(self, fitted):
        if "latent_candidates_" in fitted:
            codes = fitted["latent_candidates_"]
            if (
                not isinstance(codes, np.ndarray)
                or codes.ndim != 2
                or not 1 <= len(codes) <= MAX_START_CODES
                or codes.shape[1] != fitted.get("latent_dim_")
            ):
                raise ValueError(
                    f"latent_candidates_ is not ({MAX_START_CODES} at most, latent_dim_)"
                )

    def _make_optimizers(self):
        return {"g": self._adam(self.generator_), "d": self._adam(self.discriminator_)}

    def _train_step(self, x, optimizers):
        generator, discriminator = self.generator_, self.discriminator_
        z = torch.randn(len(x), self.latent_dim_, device=x.device)
        fake = generator(z)

        logits_real, features_real = discriminator(x)
        logits_fake, _ = discriminator(fake.detach())
        weights = None
        if self.trim_fraction_:
            # Robust training: the real rows farthest from every generated
            # sample of their batch (likely anomalies) are left out of D's
            # "real" class and of the statistics G matches.
            n_members = self.n_estimators_
            rows = x.flatten(1).reshape(n_members, -1, x[0].numel())
            fakes = fake.detach().flatten(1).reshape(n_members, -1, x[0].numel())
            weights = self._trim(torch.cdist(rows, fakes, p=1).amin(2).reshape(-1))
        loss_d = discriminator_loss(logits_real, logits_fake, weights)
        update(optimizers["d"], loss_d)

        with frozen_weights(discriminator):
            logits_fake, features_fake = discriminator(fake)
        loss_adv = adversarial_loss(logits_fake, True)  # non-saturating generator loss
        loss_fm = mean_feature_matching_loss(
            features_real.detach(),
            features_fake,
            n_groups=self.n_estimators_,
            real_weights=weights,
        )
        loss_g = loss_adv + loss_fm
        update(optimizers["g"], loss_g)
        return detached(loss_d=loss_d, loss_g=loss_g, loss_adv=loss_adv, loss_fm=loss_fm)

    # ------------------------------------------------------------------
    # Scoring: the latent search.
    # ------------------------------------------------------------------
    def _latent_steps(self) -> int:
        """``latent_steps``, ``"auto"`` resolved for the kind of data fitted."""
        if self.latent_steps != "auto":
            return self.latent_steps
        return _AUTO_LATENT_STEPS[self._data_kind()]

    def _search_loss(self, nets, x, features_x, z):
        """Per-row AnoGAN loss ``L(z)`` (eq. 5) and the image ``G(z)``."""
        x_hat = nets.generator(z)
        _, features_hat = nets.discriminator(x_hat)
        discrimination = l1_per_row(features_x, features_hat)
        return residual_score(x, x_hat, discrimination, self.disc_weight), x_hat

    def _start_codes(self, nets, x, features_x):
        """For each row, the fixed candidate code with the lowest ``L(z)``, and that loss."""
        candidates = torch.from_numpy(self.latent_candidates_).to(x.device, x.dtype)
        # Every ensemble member generates the candidates and compares its own
        # rows with them (the rows of ``x`` are the members' blocks, see _fold).
        n_members = self.n_estimators_
        images = nets.generator(candidates.repeat(n_members, 1))
        _, features = nets.discriminator(images)

        def blocks(t):
            return t.flatten(1).reshape(n_members, -1, t[0].numel())

        rows, images = blocks(x), blocks(images)
        features_x, features = blocks(features_x), blocks(features)
        # Pairwise ``L``: L1 distances scaled to per-value means, as in l1_per_row.
        losses = (1.0 - self.disc_weight) * torch.cdist(rows, images, p=1) / rows.shape[2]
        losses += self.disc_weight * torch.cdist(features_x, features, p=1) / features.shape[2]
        best, index = losses.min(2)
        return candidates[index.reshape(-1)], best.reshape(-1)

    def _search(self, nets, x):
        """``(A(x), G(z*))`` after ``latent_steps`` Adam steps on ``z``."""
        with torch.no_grad():
            _, features_x = nets.discriminator(x)
            z = self._start_codes(nets, x, features_x)[0].requires_grad_(True)
        # One Adam over the (n, latent_dim) tensor: its moments are per element
        # and the summed loss gives each row its own gradient, so every row
        # follows the same path as it would alone.
        optimizer = torch.optim.Adam([z], lr=self.latent_lr)
        # A cosine decay of the step lets z settle into its minimum instead of
        # oscillating around it at the kinks of the L1 loss.
        steps = self._latent_steps()
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
        with torch.enable_grad():
            for _ in range(steps):
                loss, _ = self._search_loss(nets, x, features_x, z)
                # Gradient for z only: the networks stay frozen.
                (z.grad,) = torch.autograd.grad(loss.sum(), [z])
                optimizer.step()
                schedule.step()
        with torch.no_grad():
            return self._search_loss(nets, x, features_x, z.detach())

    def _calibration_pass(self, nets, x):
        nets.discriminator(x)  # real data only
        # The generator at codes from its prior, where the search starts; the
        # same codes every call, so that the statistics are reproducible.
        codes = torch.randn(len(x), self.latent_dim_, generator=torch.Generator().manual_seed(0))
        nets.generator(codes.to(x.device, x.dtype))

    def _validation_loss(self, nets, x):
        # The full search is too slow to run every epoch: how well the fixed
        # start codes explain held-out rows is a cheap, label-free proxy.
        _, features_x = nets.discriminator(x)
        return self._start_codes(nets, x, features_x)[1]

    def _anomaly_score(self, nets, x):
        return self._search(nets, x)[0]

    def _score_and_reconstruct(self, nets, x):
        return self._search(nets, x)

    def _reconstruct(self, nets, x):
        return self._search(nets, x)[1]
