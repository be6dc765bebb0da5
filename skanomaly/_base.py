"""The estimator contract shared by every skanomaly detector.

:class:`BaseGANDetector` does, once for all detectors: parameters, sizes,
the batched training loop with early stopping, its loss history and
progress report, batch-norm statistics of the final weights, batched
scoring in ``eval()`` mode, the contamination threshold, reconstructions
and anomaly maps, and the registry of the fitted networks (which pickling
and :func:`skanomaly.save` walk). Input validation and scaling come from
:mod:`skanomaly._inputs`, devices, seeding and threads from
:mod:`skanomaly._runtime`, the networks from
:class:`skanomaly.networks.Backbone`.

A detector subclass only wires its networks and says what one training step
and one score are (see the "hooks" section of the class).
"""

from __future__ import annotations

import copy
import inspect
import math
import threading
from abc import ABCMeta, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from tqdm.auto import tqdm

from . import _limits
from ._inputs import _InputMixin
from ._optim import make_adam, release_parameters
from ._runtime import _cpu_module, _seeded_torch, _torch_threads, available_device, resolve_device
from .exceptions import ModelTooLargeError, TrainingDivergedError
from .losses import l1_per_row, trim_weights
from .networks import Backbone, dcgan_init, padded_side

__all__ = ["BaseGANDetector"]

# ``n_epochs="auto"`` trains for about ``_auto_steps`` optimiser steps (a
# class attribute detectors may override), within these bounds on epochs.
# Large image sets need no more than the steps: on two 6,000-image
# Fashion-MNIST classes 7 epochs (658 steps) ranked as well as 15 (0.909
# mean ROC-AUC both, n_filters=16; docs/training.md).
_AUTO_EPOCHS = {"tabular": (1, 500), "image": (1, 500)}
# Losses are computed on scaled data, where sane values are O(1) to O(100); an
# epoch mean beyond this has diverged even if float32 has not overflowed yet.
_DIVERGED_LOSS = 1e10
# ``n_estimators="auto"`` on tabular data: networks trained side by side,
# each on its own part of the rows (docs/training.md).
_AUTO_ESTIMATORS = 5
# Default MLP widths and code size for tabular data (see ``_tabular_sizes``).
_TABULAR_HIDDEN = (32, 16)
_TABULAR_LATENT = 4
# Share of each batch robust training drops when ``contamination="auto"``.
_AUTO_TRIM = 0.1
# ``contamination="auto"`` flags scores beyond the third quartile plus this
# many interquartile ranges (Tukey's fence).
_AUTO_FENCE = 1.5
# ``partial_fit`` keeps the anomaly scores of at most this many recent
# training rows, from which ``decision_scores_`` and ``offset_`` come.
_PARTIAL_FIT_SCORES = 10_000


def _rows_of(data, index: torch.Tensor):
    """The rows ``index`` of scaled training data: a tensor, or a stream of images."""
    if isinstance(data, torch.Tensor):
        return data[index.to(data.device)]
    return data.subset(index)


def _to_cpu(value):
    """A copy of nested dicts of tensors (an optimiser's state) on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    return value


@contextmanager
def frozen_weights(module: nn.Module) -> Iterator[None]:
    """Inside, ``module``'s weights get no gradient; its inputs still do.

    For the generators' updates: the discriminator's weight gradients they
    would compute are zeroed before its own next update, unused.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class BaseGANDetector(OutlierMixin, _InputMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the GAN-based detectors; not for direct use.

    Tabular input (2-D ``X``) is standardised per feature and fed to MLP
    backbones; image input (``image_shape`` given, or a 3-D ``(n, H, W)`` /
    4-D ``(n, C, H, W)`` array) is scaled to ``[-1, 1]`` from the training
    range and fed to DCGAN backbones.

    A subclass's ``__init__`` takes its own keyword-only parameters and
    ``**params``, which it hands to ``super().__init__``; its signature, for
    scikit-learn's ``get_params`` and for ``help()``, is set to the shared
    parameters followed by its own (see ``__init_subclass__``).
    """

    # Optimiser steps that ``n_epochs="auto"`` aims at, per kind of data:
    # enough for the networks to converge without memorising small data sets.
    _auto_steps = {"tabular": 600, "image": 600}
    # ``(full_until, floor)`` or None: beyond ``full_until`` training samples
    # the steps aimed at are scaled by ``sqrt(full_until / n_samples)``, but
    # by no less than ``floor`` (each step then sees more distinct samples,
    # and large sets were measured to need fewer steps).
    _auto_steps_shrink = {"tabular": None, "image": None}
    # The default tabular sizes, for the docstrings (see ``_tabular_sizes``).
    _tabular_sizes_doc = (
        "4 (the number of features minus one, for fewer than 5)",
        "two layers of 32 and 16 units",
    )
    # What early stopping monitors, for the docstrings (see ``_validation_loss``).
    _val_loss_doc = "the mean absolute reconstruction error of the held-out rows"

    _parameter_constraints: dict = {
        "contamination": [Interval(Real, 0, 0.5, closed="right"), StrOptions({"auto"})],
        "n_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), None],
        "hidden_dims": ["array-like", Interval(Integral, 1, None, closed="left"), None],
        "n_filters": [Interval(Integral, 1, None, closed="left")],
        "image_shape": ["array-like", None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_estimators": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "robust_training": ["boolean", StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    @abstractmethod
    def __init__(
        self,
        *,
        contamination=0.1,
        n_epochs="auto",
        batch_size=64,
        learning_rate=2e-4,
        latent_dim=None,
        hidden_dims=None,
        n_filters=64,
        image_shape=None,
        device="auto",
        random_state=None,
        verbose=0,
        n_estimators="auto",
        robust_training="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
    ):
        self.contamination = contamination
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.latent_dim = latent_dim
        self.hidden_dims = hidden_dims
        self.n_filters = n_filters
        self.image_shape = image_shape
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_estimators = n_estimators
        self.robust_training = robust_training
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def __init_subclass__(cls, **kwargs):
        """Give an ``__init__(self, *, own..., **params)`` the full signature.

        scikit-learn reads the parameter names from the signature of
        ``__init__`` (``get_params``, ``clone``, ``repr``): a subclass that
        passes ``**params`` to its parent gets the parent's signature
        followed by its own keyword-only parameters, so that the shared
        parameters are written once, here.
        """
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)
        own = list(signature.parameters.values())
        if not any(p.kind is p.VAR_KEYWORD for p in own):
            return
        inherited = inspect.signature(super(cls, cls).__init__).parameters.values()
        own = [p for p in own if p.kind is p.KEYWORD_ONLY]
        init.__signature__ = signature.replace(parameters=[*inherited, *own])

    # ------------------------------------------------------------------
    # Hooks: what a detector subclass provides.
    # ------------------------------------------------------------------
    @abstractmethod
    def _build_networks(self) -> None:
        """Create the networks with ``_register_network`` (``generator_``, ...)."""

    @abstractmethod
    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers for one fit; they are not kept after training."""

    @abstractmethod
    def _train_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, torch.Tensor]:
        """One update on the scaled batch ``x``; returns detached scalar losses."""

    @abstractmethod
    def _anomaly_score(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """Per-row anomaly score of the scaled batch ``x`` (higher = abnormal).

        ``nets`` holds the networks to score with, by name without the
        trailing underscore (``nets.generator``), in ``eval()`` mode and in
        the dtype of ``x``.
        """

    @abstractmethod
    def _reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """The model's reconstruction of the scaled batch ``x``."""

    @abstractmethod
    def _calibration_pass(self, nets: SimpleNamespace, x: torch.Tensor) -> None:
        """Run every network on the training batch ``x`` the way scoring does.

        Called in ``train()`` mode after training, so that each batch-norm
        layer sees the inputs it will normalise at scoring time (for
        discriminators: real data only) and its statistics can be set from
        them (see ``_calibrate_batch_norm``).
        """

    def _score_and_reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> tuple:
        """``(_anomaly_score, _reconstruct)`` of ``x``; override to share their work."""
        return self._anomaly_score(nets, x), self._reconstruct(nets, x)

    def _validation_loss(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """Label-free per-row loss on held-out rows monitored by early stopping.

        The mean absolute reconstruction error, by default.
        """
        return l1_per_row(x, self._reconstruct(nets, x))

    def _end_epoch(self, losses: dict[str, torch.Tensor]) -> None:
        """Called after each epoch with the losses of its last step."""

    def _fit_score_scale(self, data: torch.Tensor) -> None:
        """Called after training and calibration, with the scaled training data.

        Detectors whose score combines terms of different scales learn the
        scales here, from the training data only.
        """

    # ------------------------------------------------------------------
    # The networks: built for the data, registered by name.
    # ------------------------------------------------------------------
    # Names of the fitted networks, in the order they were built; set by
    # ``_register_network``. ``_networks``, pickling and skanomaly.save walk it.
    _network_names: tuple[str, ...] = ()

    def _backbone(self) -> Backbone:
        """The network factory for the fitted data: MLPs for rows, DCGANs for images."""
        return Backbone(
            n_features=self.n_features_in_,
            latent_dim=self.latent_dim_,
            hidden_dims=self.hidden_dims_,
            image_shape=self.image_shape_,
            n_filters=self.n_filters,
            n_members=self.n_estimators_,
        )

    def _register_network(self, name: str, module: nn.Module) -> None:
        """Set the fitted attribute ``name`` (ending in ``_``) to ``module`` and record it.

        Convolutional networks are kept channels-last, as their inputs are
        (see ``_memory_format``).
        """
        setattr(self, name, module.to(memory_format=self._memory_format()))
        if name not in self._network_names:
            self._network_names = (*self._network_names, name)

    def _adam(self, *modules: nn.Module, lr: float | None = None) -> torch.optim.Adam:
        """Adam with beta1 = 0.5, as in DCGAN and the three papers.

        Fused (one kernel for all parameters) where torch has it for the
        device. For the MLPs, over one flat buffer (``FlatAdam``): with their
        small tensors, Adam's per-tensor bookkeeping is a large share of a
        training step. Not for images, whose steps are convolution-bound and
        whose large gradients would take one more pass to accumulate into
        the buffer.
        """
        params = [p for module in modules for p in module.parameters()]
        settings = {"lr": lr or self.learning_rate, "betas": (0.5, 0.999)}
        return make_adam(params, flat=self.image_shape_ is None, **settings)

    def _networks(self) -> dict[str, nn.Module]:
        """The registered networks by attribute name, in the order they were built."""
        return {name: getattr(self, name) for name in self._network_names}

    def _network_namespace(self) -> SimpleNamespace:
        """The networks by name without the trailing underscore, in ``eval()`` mode."""
        return SimpleNamespace(
            **{name.rstrip("_"): module.eval() for name, module in self._networks().items()}
        )

    # ------------------------------------------------------------------
    # Sizes.
    # ------------------------------------------------------------------
    def _check_model_memory(self, n_samples: int) -> None:
        """Refuse images whose networks would not fit in memory, before building them.

        The convolutional networks work on the image padded to a power-of-two
        square, and their width grows with that side: a 5000x5000 image, or
        an 8x4096 strip, asks for far more memory than any machine has.
        """
        _, height, width = self.image_shape_
        side = padded_side(height, width)
        probe = object.__new__(type(self))
        vars(probe).update(vars(self))
        try:
            probe._resolve_sizes()
            need = _limits.training_memory(probe, side, min(self.batch_size, n_samples))
        except (ValueError, TypeError, AttributeError):
            return  # fit's own checks report what is wrong with the sizes
        device = resolve_device(self.device)
        free = _limits.available_memory(device)
        if side > _limits.MAX_IMAGE_SIDE or (free is not None and need > free):
            limit = f"{_limits.gib(free)} free on {device}" if free is not None else "the limit"
            raise ModelTooLargeError(
                f"images of {height}x{width} pixels are padded to {side}x{side} inside the "
                f"networks, and training would need about {_limits.gib(need)}, more than "
                f"{limit}; resize them (image_size in skanomaly.datasets.load_image_folder, "
                "--image-size on the command line) or lower n_filters / batch_size."
            )

    def _resolve_sizes(self) -> None:
        n_features = self.n_features_in_
        if self.image_shape_ is None:
            default_hidden, default_latent = self._tabular_sizes(n_features)
        else:
            default_latent = 100 if n_features >= 1024 else max(16, n_features // 4)
            default_hidden = None
        self.latent_dim_ = int(self.latent_dim or default_latent)
        hidden = self.hidden_dims
        if hidden is None:
            self.hidden_dims_ = default_hidden
        else:
            hidden = (hidden,) if isinstance(hidden, Integral) else tuple(hidden)
            if not hidden or not all(isinstance(h, Integral) and h > 0 for h in hidden):
                raise ValueError(
                    f"hidden_dims must be a non-empty sequence of positive integers, "
                    f"got {self.hidden_dims!r}"
                )
            self.hidden_dims_ = tuple(int(h) for h in hidden)
        if self.image_shape_ is not None and self.n_estimators not in ("auto", 1):
            raise ValueError(
                f"n_estimators={self.n_estimators}: ensembles are built for tabular data "
                "only (the convolutional networks train one model); use n_estimators=1 "
                'or "auto" for images.'
            )
        if self.n_estimators == "auto":
            self.n_estimators_ = _AUTO_ESTIMATORS if self.image_shape_ is None else 1
        else:
            self.n_estimators_ = int(self.n_estimators)

    def _tabular_sizes(self, n_features: int) -> tuple[tuple[int, ...], int]:
        """Default ``(hidden_dims, latent_dim)`` of the MLPs for ``n_features`` features.

        Small networks with a narrow code: on the shared ADBench sets, under
        contamination, they rank anomalies better than wide ones, which learn
        the anomalies too (docs/training.md).
        """
        return _TABULAR_HIDDEN, max(1, min(_TABULAR_LATENT, n_features - 1))

    def _resolve_trim_fraction(self) -> float:
        """Share of each batch that robust training drops (0: plain training)."""
        robust = self.robust_training
        if robust == "auto":
            # Tables are rarely clean; image training sets (one class of good
            # parts) usually are, and their defaults were measured without it.
            robust = self.image_shape_ is None
        if not robust:
            return 0.0
        return _AUTO_TRIM if self.contamination == "auto" else float(self.contamination)

    def _resolve_n_epochs(self, n_samples: int) -> int:
        """Epochs for ``n_samples`` training rows per ensemble member."""
        if self.n_epochs != "auto":
            return int(self.n_epochs)
        batch_size = min(self.batch_size, n_samples)
        if self.n_estimators_ == 1:
            # The training loop skips a final batch of one row.
            steps_per_epoch = n_samples // batch_size + (n_samples % batch_size > 1)
        else:
            steps_per_epoch = math.ceil(n_samples / batch_size)
        kind = "tabular" if self.image_shape_ is None else "image"
        steps = self._auto_steps[kind]
        if self._auto_steps_shrink[kind] is not None:
            full_until, floor = self._auto_steps_shrink[kind]
            steps *= max(floor, math.sqrt(min(1.0, full_until / n_samples)))
        epochs = math.ceil(steps / steps_per_epoch)
        return int(np.clip(epochs, *_AUTO_EPOCHS[kind]))

    # ------------------------------------------------------------------
    # Fitting.
    # ------------------------------------------------------------------
    def fit(self, X, y=None):
        """Train the networks on ``X`` (assumed mostly normal) and set ``offset_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training data: rows of features, or images (see ``image_shape``).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted detector.
        """
        self._fit_and_score(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one chunk of data: the first call initialises, later calls continue.

        The first call (on an unfitted detector) validates ``X``, learns the
        input scaling from it, builds the networks for its shape and sizes,
        as ``fit`` would, and trains one pass over its rows. Every later
        call trains one more pass, in batches of ``batch_size``, over the
        rows it is given, with the optimisers' state carried over from the
        previous call; its rows must have the features (image shape) of the
        first call's. Called on a detector fitted by ``fit``, it continues
        training from the fitted weights. ``fit`` starts afresh.
        ``n_epochs`` and early stopping apply to ``fit`` only.

        After every call ``offset_``, ``decision_scores_``, ``predict`` and
        the scores are ready. ``decision_scores_`` holds the anomaly scores
        of the most recent training rows (at most 10,000; a random sample of
        a larger call's rows), each taken *before* the networks trained on
        it, so that they are scores of data the networks have not learned,
        as new data's are ("test-then-train"). The first call's rows, which
        untrained networks cannot score, are scored after training, by the
        ensemble members that did not train on them, as in ``fit``.
        ``offset_`` comes from these scores as ``fit`` takes it from its
        own, and with several ensemble members ``member_scaling_`` is
        refreshed from them too. Batch-norm statistics are recomputed after
        every call from the most recent training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            A chunk of training data. The first call needs at least 2 rows
            (and, with several ensemble members, enough rows for each to
            train on 2); a later call trains on a chunk of 2 rows or more
            (a single row is scored, not trained on: batch norm needs 2).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated detector.

        Raises
        ------
        ValueError
            When ``X`` does not have the number of features (or the image
            shape) of the first call.
        skanomaly.exceptions.TrainingDivergedError
            When a loss or a score is no longer finite. A failed call
            leaves the detector as it was before the call.

        Notes
        -----
        The input scaling is learned from the first call only: make its
        chunk representative (and, for tables, not tiny). The optimisers'
        state and the recent training rows used for batch-norm statistics
        are kept by ``pickle`` / ``joblib``, not by :func:`skanomaly.save`:
        after :func:`skanomaly.load`, ``partial_fit`` continues with fresh
        optimiser moments.

        Examples
        --------
        >>> import numpy as np
        >>> from skanomaly import GANomalyDetector
        >>> rng = np.random.default_rng(0)
        >>> detector = GANomalyDetector(random_state=0)
        >>> for _ in range(20):
        ...     detector = detector.partial_fit(rng.normal(size=(100, 4)))
        >>> detector.n_samples_seen_
        2000
        >>> detector.predict([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]])
        array([ 1, -1])
        """
        if not hasattr(self, "offset_"):
            try:
                self._partial_fit_first(X)
            except BaseException:
                self._forget_fit()
                raise
            return self
        before = dict(vars(self)), self._network_state()
        try:
            self._partial_fit_more(X)
        except BaseException:
            # Leave the detector as it was before this call.
            vars(self).clear()
            vars(self).update(before[0])
            for name, module in self._networks().items():
                module.load_state_dict(before[1][name])
            raise
        return self

    def _partial_fit_first(self, X) -> None:
        """The first ``partial_fit``: initialise as ``fit`` does, train one pass."""
        X, _ = self._validate_input(X, reset=True)
        random_state = self._start_fit(len(X), lambda: self._fit_scaling(X))
        seed = random_state.randint(np.iinfo(np.int32).max)
        data = self._to_tensor(X, clip_to_bounds=True)
        state = {"random_state": random_state, "optimizers": None, "recent": data[:0]}
        with _seeded_torch(seed, self.device_), self._threads():
            self._build_initial_networks()
            bags = self._draw_bags(torch.arange(len(data)))
            self.history_ = {}
            self._partial_pass(data, bags, state)
        # Untrained networks cannot score: the first rows are scored after
        # training, each by the members that did not train on it (as in fit).
        honest = np.ones((len(X), self.n_estimators_), dtype=bool)
        if self.n_estimators_ > 1:
            for member, rows in enumerate(bags):
                honest[rows.numpy(), member] = False
        self.n_samples_seen_ = len(X)
        self._update_partial_scores(state, self._raw_member_scores(X), honest)
        self._partial_fit_state = state

    def _partial_fit_more(self, X) -> None:
        """A later ``partial_fit``: score the rows, then train one pass on them."""
        X, _ = self._validate_input(X, reset=False)
        state = dict(self._partial_state())
        state["random_state"] = copy.deepcopy(state["random_state"])
        # Test-then-train: the rows are scored before the networks learn them.
        scores = self._raw_member_scores(X)
        seed = state["random_state"].randint(np.iinfo(np.int32).max)
        data = self._to_tensor(X, clip_to_bounds=True)
        with _seeded_torch(seed, self.device_), self._threads():
            bags = self._partial_bags(torch.arange(len(data)))
            if bags is not None:
                self._partial_pass(data, bags, state)
        self.n_samples_seen_ += len(X)
        self._update_partial_scores(state, scores, np.ones(scores.shape, dtype=bool))
        self._partial_fit_state = state

    def _partial_state(self) -> dict:
        """The state ``partial_fit`` carries between calls; made anew after ``fit`` or a load.

        Then the recent scores start from ``decision_scores_``, given to
        every member at the scale ``member_scaling_`` undoes, so that the
        refreshed scaling ranks them as before, and the optimisers start
        afresh.
        """
        state = getattr(self, "_partial_fit_state", None)
        if state is not None:
            return state
        random_state = check_random_state(self.random_state)
        anomaly_scores = np.asarray(self.decision_scores_, dtype=np.float64)
        if len(anomaly_scores) > _PARTIAL_FIT_SCORES:
            keep = random_state.choice(len(anomaly_scores), _PARTIAL_FIT_SCORES, replace=False)
            anomaly_scores = anomaly_scores[np.sort(keep)]
        scores = anomaly_scores[:, None].repeat(self.n_estimators_, 1)
        if self.n_estimators_ > 1:
            center, spread = self.member_scaling_
            scores = center + spread * scores
        if not hasattr(self, "n_samples_seen_"):
            self.n_samples_seen_ = len(self.decision_scores_)
        return {
            "random_state": random_state,
            "optimizers": None,
            "recent": torch.empty(0, *(self.image_shape_ or (self.n_features_in_,))),
            "scores": scores,
            "honest": np.ones(scores.shape, dtype=bool),
        }

    def _partial_bags(self, rows: torch.Tensor) -> list[torch.Tensor] | None:
        """Each member's rows of a later ``partial_fit`` call; None when there is nothing to train.

        Drawn as ``_draw_bags`` does, but a member left with fewer than 2
        rows gets more of the call's rows at random: the call's scores were
        taken before training, so no row needs to stay out of a bag.
        """
        if len(rows) < 2:
            return None
        n_members = self.n_estimators_
        if n_members == 1:
            return [rows]
        member_of = torch.rand(len(rows), n_members).argsort(1)[:, : math.ceil(n_members / 2)]
        bags = []
        for member in range(n_members):
            mine = (member_of == member).any(1)
            if int(mine.sum()) < 2:
                others = torch.nonzero(~mine).flatten()
                extra = others[torch.randperm(len(others))[: 2 - int(mine.sum())]]
                mine[extra] = True
            bags.append(rows[mine])
        return bags

    def _partial_pass(self, data: torch.Tensor, bags: list[torch.Tensor], state: dict) -> None:
        """One pass over ``bags`` of the scaled ``data``, the optimisers' state kept in ``state``.

        Then batch norm is recalibrated, and score scales refitted, on the
        most recent training rows.
        """
        on_device = data.to(self.device_) if data.nbytes <= 2**30 else data
        optimizers = self._make_optimizers()
        try:
            if state["optimizers"] is not None:
                for name, optimizer in optimizers.items():
                    # The moments carry over; the settings are today's (set_params).
                    settings = optimizer.state_dict()["param_groups"]
                    optimizer.load_state_dict(
                        {"state": state["optimizers"][name], "param_groups": settings}
                    )
            shuffle = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))
            batches = self._epoch_batches(bags, shuffle)
            means, losses = self._run_steps(on_device, batches, optimizers)
            state["optimizers"] = {
                name: _to_cpu(optimizer.state_dict()["state"])
                for name, optimizer in optimizers.items()
            }
        finally:
            release_parameters(optimizers.values())
        if losses:
            self._end_epoch(losses)
            self._check_losses(means, "in partial_fit")
            history = {name: list(values) for name, values in self.history_.items()}
            for name in [*history, *(name for name in means if name not in history)]:
                history.setdefault(name, []).append(means.get(name, math.nan))
            self.history_ = history
        recent = torch.cat([state["recent"], data])[-self._calibration_rows() :]
        state["recent"] = recent
        self._calibrate_batch_norm(recent)
        self._fit_score_scale(recent)

    def _update_partial_scores(self, state: dict, scores: np.ndarray, honest: np.ndarray) -> None:
        """Add a call's raw member scores to the recent ones; set the threshold from them.

        Only the most recent scores are kept: earlier ones belong to weights
        that have moved since.
        """
        if len(scores) > _PARTIAL_FIT_SCORES:
            keep = np.sort(
                state["random_state"].choice(len(scores), _PARTIAL_FIT_SCORES, replace=False)
            )
            scores, honest = scores[keep], honest[keep]
        if "scores" in state:
            scores = np.concatenate([state["scores"], scores])[-_PARTIAL_FIT_SCORES:]
            honest = np.concatenate([state["honest"], honest])[-_PARTIAL_FIT_SCORES:]
        state["scores"], state["honest"] = scores, honest
        if self.n_estimators_ == 1:
            anomaly_scores = scores[:, 0].copy()
        else:
            anomaly_scores = self._combine_member_scores(scores, honest)
        self._check_finite_scores(anomaly_scores)
        self.decision_scores_ = anomaly_scores
        self.offset_ = self._fit_offset(anomaly_scores)

    def _forget_fit(self) -> None:
        """Remove every fitted attribute: a failed fit leaves no half-fitted model."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        vars(self).pop("_network_names", None)
        vars(self).pop("_partial_fit_state", None)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_and_score(self, X) -> np.ndarray:
        """``fit``, returning ``decision_scores_``, the training rows' anomaly scores."""
        return self._fit_or_forget(self._fit, X)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_stream_and_score(self, images, num_workers: int = 0) -> np.ndarray:
        """``_fit_and_score`` on images read from disk (:func:`skanomaly.datasets.fit_folder`)."""
        return self._fit_or_forget(self._fit_stream, images, num_workers)

    def _fit_or_forget(self, fit, *args) -> np.ndarray:
        try:
            return fit(*args)
        except BaseException:
            # An interrupted or failed fit must not leave a half-fitted model.
            self._forget_fit()
            raise

    def _threads(self):
        """Context setting torch's intra-op threads for this (validated) model.

        The MLPs' small matrix products gain nothing from intra-op threads,
        and threads that spin-wait make them many times slower as soon as
        other processes (parallel workers, a busy machine) share the cores:
        tabular models use one thread. Convolutions on images do gain from
        threads: they keep torch's setting, except in a worker thread.

        Thread-based engines (joblib's ``threading`` backend, Dask's
        ``LocalCluster(processes=False)``) run several fits in one process,
        where each would claim every core: a call from any thread but the
        main thread uses one thread, as a Dask worker process does (its
        nanny sets ``OMP_NUM_THREADS=1``). torch keeps this count per OS
        thread, so other running threads are not affected. Process-based
        engines (joblib's ``loky``, Dask workers) already split the cores
        through ``OMP_NUM_THREADS``, which torch reads at import.
        """
        in_worker_thread = threading.current_thread() is not threading.main_thread()
        return _torch_threads(1 if self.image_shape_ is None or in_worker_thread else None)

    def _fit(self, X) -> np.ndarray:
        """Fit on ``X``; return the anomaly scores of its rows (higher = abnormal)."""
        X, _ = self._validate_input(X, reset=True)
        return self._fit_data(
            X, lambda: self._fit_scaling(X), lambda: self._to_tensor(X, clip_to_bounds=True)
        )

    def _fit_stream(self, images, num_workers: int = 0) -> np.ndarray:
        """``_fit`` on a folder of images read from disk batch by batch.

        ``images`` is a :class:`skanomaly.datasets.ImageFolderDataset`; its
        streamed scan gives the image shape and the pixel range the scaling
        needs, and the training, calibration and scoring passes read the
        images they need per batch (``num_workers`` background processes).
        """
        from ._streaming import ScaledImages  # here: it imports this module

        shape, low, high = images.scan(num_workers)
        self._set_image_input(shape)
        stream = ScaledImages(images, self, num_workers)
        return self._fit_data(stream, lambda: self._fit_image_range(low, high), lambda: stream)

    def _fit_data(self, X, fit_scaling, scaled) -> np.ndarray:
        """``fit`` once the input is validated: ``fit_scaling()`` learns the scaling,
        ``scaled()`` gives the scaled training data (a tensor, or a stream of images)."""
        random_state = self._start_fit(len(X), fit_scaling)
        seed = random_state.randint(np.iinfo(np.int32).max)
        data = scaled()
        rows, validation = self._split_validation(len(data), random_state)
        with _seeded_torch(seed, self.device_), self._threads():
            self._build_initial_networks()
            bags = self._draw_bags(rows)
            self.n_epochs_ = self._resolve_n_epochs(min(len(bag) for bag in bags))
            self.history_ = self._train(data, bags, rows, validation)
            self._fit_score_scale(data if validation is None else _rows_of(data, rows))
        self.decision_scores_ = self._out_of_bag_scores(X, bags)
        self._check_finite_scores(self.decision_scores_)
        self.offset_ = self._fit_offset(self.decision_scores_)
        return self.decision_scores_

    def _start_fit(self, n_samples: int, fit_scaling) -> np.random.RandomState:
        """What ``fit`` and a first ``partial_fit`` do once the input is validated.

        Forgets any earlier ``partial_fit`` state, resolves the device and
        the sizes, learns the input scaling (``fit_scaling()``), and returns
        the random state that seeds the rest.
        """
        vars(self).pop("_partial_fit_state", None)
        vars(self).pop("n_samples_seen_", None)
        if self.image_shape_ is not None:
            self._check_model_memory(n_samples)
        self.device_ = resolve_device(self.device)
        self._resolve_sizes()
        fit_scaling()
        self.trim_fraction_ = self._resolve_trim_fraction()
        return check_random_state(self.random_state)

    def _build_initial_networks(self) -> None:
        """Build and initialise the networks on ``device_`` (inside the seeded context)."""
        self._network_names = ()
        self._build_networks()
        for module in self._networks().values():
            module.apply(dcgan_init)
            module.to(self.device_)

    def _check_finite_scores(self, anomaly_scores: np.ndarray) -> None:
        if not np.all(np.isfinite(anomaly_scores)):
            raise TrainingDivergedError(
                "training produced non-finite anomaly scores on the training data; "
                "lower learning_rate or check the input scale."
            )

    def _fit_offset(self, anomaly_scores: np.ndarray) -> float:
        """``offset_`` from the training rows' (out-of-bag) anomaly scores.

        A number ``contamination`` flags that share of them. ``"auto"``
        flags the scores above the upper Tukey fence of their distribution
        (third quartile + 1.5 interquartile ranges, Tukey 1977), a rule that
        needs no guess of the share.
        """
        if self.contamination == "auto":
            q1, q3 = np.percentile(anomaly_scores, [25, 75])
            return float(-(q3 + _AUTO_FENCE * (q3 - q1)))
        return float(np.percentile(-anomaly_scores, 100 * self.contamination))

    def _split_validation(self, n_samples: int, random_state) -> tuple:
        """``(training, validation)`` row indices; validation ``None`` without early stopping."""
        if not self.early_stopping:
            return torch.arange(n_samples), None
        n_valid = int(round(self.validation_fraction * n_samples))
        if n_valid < 2 or n_samples - n_valid < 2:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves too few rows: {n_samples} training rows give {n_valid} for "
                "validation and need at least 2 on each side."
            )
        order = torch.from_numpy(random_state.permutation(n_samples))
        return order[n_valid:], order[:n_valid]

    def _draw_bags(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """The training rows of each ensemble member, as index tensors.

        One member trains on every row. Several members each train on a
        random part of the rows: each row goes to ``ceil(k / 2)`` of the
        ``k`` members, drawn at random, so that every row is *out of the
        bag* of ``floor(k / 2)`` members, which give it an honest score (see
        ``_out_of_bag_scores``). ``rows`` leaves out the validation rows.
        """
        n_members = self.n_estimators_
        if n_members == 1:
            return [rows]
        in_bag = math.ceil(n_members / 2)
        # For each row, a random order of the members; the first ``in_bag`` train on it.
        order = torch.rand(len(rows), n_members).argsort(1)
        member_of = order[:, :in_bag]
        bags = []
        for member in range(n_members):
            mine = (member_of == member).any(1)
            bags.append(rows[mine])
        if min(len(bag) for bag in bags) < 2:
            raise ValueError(
                f"n_estimators={n_members} leaves a member fewer than 2 training rows "
                f"out of {len(rows)}: give more rows or fewer estimators."
            )
        return bags

    def _train(
        self,
        data: torch.Tensor,
        bags: list[torch.Tensor],
        rows: torch.Tensor,
        validation: torch.Tensor | None,
    ) -> dict:
        """Train on the ``bags`` of ``data``; ``rows``: every training row, ``validation``."""
        # Small enough: move once instead of per batch (a stream stays where it is).
        if isinstance(data, torch.Tensor) and data.nbytes <= 2**30:
            data = data.to(self.device_)
        training = data
        if validation is not None:
            training = _rows_of(data, rows)
            validation = _rows_of(data, validation)
        optimizers = self._make_optimizers()
        try:
            history = self._train_epochs(data, bags, training, validation, optimizers)
        finally:
            # Every parameter gets its own memory back (see ``_adam``).
            release_parameters(optimizers.values())
        self._calibrate_batch_norm(training)
        return history

    def _epoch_batches(self, bags: list[torch.Tensor], shuffle: torch.Generator) -> Iterator:
        """Index tensors of one epoch's batches, each member's block after the other's.

        One member: a random order of its rows in batches of ``batch_size``
        (a last batch of one row is skipped: batch norm needs two; the row
        comes back next epoch). Several: each member's batch is drawn from
        its own rows in a random order, as many steps as the largest bag
        needs; smaller bags start a new order where theirs ends, so that
        every step has ``batch_size`` rows of each member.
        """
        if len(bags) == 1:
            (rows,) = bags
            batch_size = min(self.batch_size, len(rows))
            order = rows[torch.randperm(len(rows), generator=shuffle)]
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) >= 2:
                    yield index
            return
        batch_size = min(self.batch_size, min(len(rows) for rows in bags))
        n_steps = math.ceil(max(len(rows) for rows in bags) / batch_size)
        need = n_steps * batch_size
        orders = []
        for rows in bags:
            repeats = math.ceil(need / len(rows))
            perms = [torch.randperm(len(rows), generator=shuffle) for _ in range(repeats)]
            orders.append(rows[torch.cat(perms)[:need]])
        orders = torch.stack(orders)  # (n_members, need)
        for step in range(n_steps):
            yield orders[:, step * batch_size : (step + 1) * batch_size].reshape(-1)

    def _train_epochs(
        self, data: torch.Tensor, bags: list[torch.Tensor], training, validation, optimizers
    ) -> dict:
        """The epochs of ``_train``; leaves the best (or last) weights in the networks."""
        shuffle = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))
        history: dict[str, list[float]] = {}
        best_loss, best_state, no_improvement = math.inf, None, 0
        epochs = tqdm(
            range(self.n_epochs_),
            desc=type(self).__name__,
            unit="epoch",
            disable=self.verbose != 1,
        )
        calibration = training[: self._calibration_rows()]
        for epoch in epochs:
            means, losses = self._run_steps(data, self._epoch_batches(bags, shuffle), optimizers)
            self._end_epoch(losses)
            if validation is not None:
                self._calibrate_batch_norm(calibration)
                means["val_loss"] = self._validation_score(validation)
            for name, value in means.items():
                history.setdefault(name, []).append(value)
            self._check_losses(means, f"at epoch {epoch + 1}")
            text = ", ".join(f"{name}={value:.4g}" for name, value in means.items())
            if self.verbose == 1:
                epochs.set_postfix_str(text)
            elif self.verbose >= 2:
                print(f"[{type(self).__name__}] epoch {epoch + 1}/{self.n_epochs_}: {text}")
            if validation is not None:
                # scikit-learn's rule (MLPClassifier): stop after n_iter_no_change
                # epochs without an improvement of at least tol; keep the best.
                if means["val_loss"] < best_loss - self.tol:
                    no_improvement = 0
                else:
                    no_improvement += 1
                if means["val_loss"] < best_loss:
                    best_loss = means["val_loss"]
                    best_state = self._network_state()
                    self.best_epoch_ = epoch + 1
                if no_improvement >= self.n_iter_no_change:
                    break
        if best_state is not None:
            for name, module in self._networks().items():
                module.load_state_dict(best_state[name])
        self.n_epochs_trained_ = epoch + 1
        return history

    def _run_steps(self, data: torch.Tensor, batches, optimizers) -> tuple[dict, dict]:
        """One training step per index tensor of ``batches``, the networks in ``train()`` mode.

        Returns the mean of each loss over the steps (empty without a step)
        and the losses of the last step.
        """
        for module in self._networks().values():
            module.train()
        sums: dict[str, torch.Tensor] = {}
        n_steps = 0
        losses: dict[str, torch.Tensor] = {}
        if isinstance(data, torch.Tensor):
            batches = (data[index.to(data.device)] for index in batches)
        else:
            batches = data.batches(batches)  # a stream reads its images batch by batch
        for batch in batches:
            batch = batch.to(self.device_, memory_format=self._memory_format())
            losses = self._train_step(batch, optimizers)
            # Summed on the device: one host sync per epoch, not per step.
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
            n_steps += 1
        means = {name: float(total) / n_steps for name, total in sums.items()}
        return means, losses

    def _check_losses(self, means: dict[str, float], when: str) -> None:
        """Raise :class:`TrainingDivergedError` for a loss that is not finite or beyond sane."""
        bad = {name: value for name, value in means.items() if not abs(value) < _DIVERGED_LOSS}
        if bad:
            name, value = next(iter(bad.items()))
            raise TrainingDivergedError(
                f"training diverged {when}: {name} = {value}. "
                f"Try a smaller learning_rate (now {self.learning_rate})."
            )

    def _network_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in self._networks().items()
        }

    def _validation_score(self, validation: torch.Tensor) -> float:
        with torch.no_grad():
            nets = self._network_namespace()
            total = sum(
                float(self._members_mean(self._validation_loss(nets, self._fold(x))).sum())
                for x in validation.split(self._calibration_rows())
            )
        return total / len(validation)

    # ------------------------------------------------------------------
    # Ensembles: members side by side in one batch.
    # ------------------------------------------------------------------
    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` once for every ensemble member, stacked along the rows."""
        n_members = self.n_estimators_
        if n_members == 1:
            return x
        return x.repeat(n_members, *([1] * (x.dim() - 1)))

    def _members_mean(self, out: torch.Tensor) -> torch.Tensor:
        """Mean over the members of a row-stacked output (see ``_fold``)."""
        n_members = self.n_estimators_
        if n_members == 1:
            return out
        return out.reshape(n_members, -1, *out.shape[1:]).mean(0)

    def _trim(self, criterion: torch.Tensor) -> torch.Tensor | None:
        """Row weights of robust training for a per-row ``criterion`` (see :func:`trim_weights`).

        ``None`` (an untrimmed batch mean) when robust training is off.
        """
        return trim_weights(criterion, self.trim_fraction_, n_groups=self.n_estimators_)

    def _member_scores(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """``(n, n_members)`` anomaly scores of ``x`` by each member."""
        return self._anomaly_score(nets, self._fold(x)).reshape(self.n_estimators_, -1).T

    def _ensemble_score(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """The anomaly score of ``x``: the paper's score, or the members' combined."""
        if self.n_estimators_ == 1:
            return self._anomaly_score(nets, x)
        scores = self._member_scores(nets, x)
        center, spread = (
            torch.as_tensor(v, dtype=scores.dtype, device=scores.device)
            for v in self.member_scaling_
        )
        return ((scores - center) / spread).mean(1)

    def _ensemble_reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x``: the mean of the members' reconstructions."""
        return self._members_mean(self._reconstruct(nets, self._fold(x)))

    def _ensemble_score_and_reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> tuple:
        if self.n_estimators_ == 1:
            return self._score_and_reconstruct(nets, x)
        return self._ensemble_score(nets, x), self._ensemble_reconstruct(nets, x)

    def _out_of_bag_scores(self, X: np.ndarray, bags: list[torch.Tensor]) -> np.ndarray:
        """Anomaly scores of the training rows by the members that did not train on them.

        One member scores every row (there is no row it has not seen). With
        several, each member's scores are standardised by the median and
        interquartile range of its scores on the rows out of its bag
        (``member_scaling_``), so that members of different scales weigh
        the same; a new row's score is the mean over all members, and a
        training row's the mean over the members out of whose bag it is:
        scores of data the networks have not learned, as new data's are.
        """
        if self.n_estimators_ == 1:
            return self._score_tensor(X)
        scores = self._raw_member_scores(X)
        out_of_bag = np.ones(scores.shape, dtype=bool)
        for member, rows in enumerate(bags):
            out_of_bag[rows.numpy(), member] = False
        return self._combine_member_scores(scores, out_of_bag)

    def _raw_member_scores(self, X: np.ndarray) -> np.ndarray:
        """``(n, n_members)`` float64 anomaly scores of validated rows by each member."""
        return torch.cat(self._per_chunk(X, self._member_scores)).double().cpu().numpy()

    def _combine_member_scores(self, scores: np.ndarray, honest: np.ndarray) -> np.ndarray:
        """Set ``member_scaling_`` from the ``honest`` entries of ``scores``; their mean per row.

        ``scores`` are the members' raw scores of some rows, ``honest`` says
        which of them come from a member that had not trained on the row.
        """
        center, spread = np.empty(scores.shape[1]), np.empty(scores.shape[1])
        for member in range(scores.shape[1]):
            mine = scores[honest[:, member], member]
            q1, center[member], q3 = np.percentile(mine, [25, 50, 75])
            # A member that scores (almost) every row alike: keep it harmless.
            spread[member] = max(q3 - q1, np.std(mine), np.finfo(np.float32).tiny)
        self.member_scaling_ = np.stack([center, spread])
        standardised = (scores - center) / spread
        return (standardised * honest).sum(1) / honest.sum(1)

    # ------------------------------------------------------------------
    # Batch-norm statistics of the final weights ("precise BN").
    # ------------------------------------------------------------------
    def _calibration_rows(self) -> int:
        # Large chunks: batch statistics of a chunk this size are those of
        # the data set (exactly so when it holds every row).
        rows = 2**22 // (self.n_features_in_ * self.n_estimators_)
        return int(np.clip(rows, 256, 16384))

    def _calibrate_batch_norm(self, data: torch.Tensor) -> None:
        """Set every batch-norm layer's statistics from the final weights.

        Running averages collected during training mix statistics of many
        past weights (and, in discriminators, of generated batches). Here
        each layer's running mean and variance become the mean and (biased)
        variance of its input over ``data``, as ``_calibration_pass`` feeds
        the networks: real training data, in large chunks, with no gradient
        and no weight update (Wu & Johnson 2021, "precise BN").
        """
        modules = (m for net in self._networks().values() for m in net.modules())
        layers = [m for m in modules if isinstance(m, _BatchNorm)]
        if not layers:
            return
        moments: dict[_BatchNorm, list] = {}

        def record(layer, inputs):
            x = inputs[0].detach().to(torch.float64)
            dims = [d for d in range(x.dim()) if d != 1]
            count = x.numel() // x.shape[1]
            total, squares = x.sum(dims), x.pow(2).sum(dims)
            if layer in moments:
                moments[layer][0] += count
                moments[layer][1] += total
                moments[layer][2] += squares
            else:
                moments[layer] = [count, total, squares]

        hooks = [layer.register_forward_pre_hook(record) for layer in layers]
        nets = self._network_namespace()  # eval mode, except batch norm below
        for layer in layers:
            layer.train()
        try:
            with torch.no_grad():
                for x in data.split(self._calibration_rows()):
                    self._calibration_pass(nets, self._fold(x.to(self.device_)))
        finally:
            for hook in hooks:
                hook.remove()
            for layer in layers:
                layer.eval()
        for layer, (count, total, squares) in moments.items():
            mean = total / count
            var = (squares / count - mean.pow(2)).clamp_min(0)
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
            layer.num_batches_tracked.fill_(1)

    # ------------------------------------------------------------------
    # Scoring.
    # ------------------------------------------------------------------
    # Whether scoring needs autograd (a latent search does); otherwise it
    # runs in inference mode.
    _score_needs_grad = False

    def _memory_format(self) -> torch.memory_format:
        """Channels-last for images: on the CPU it made GANomaly's training
        steps about 15% and its scoring about 40% faster (docs/throughput.md)."""
        return torch.preserve_format if self.image_shape_ is None else torch.channels_last

    def _score_batch_rows(self) -> int:
        """Rows per scoring chunk: fixed, and sized by memory, not by ``batch_size``.

        Every chunk, the last one padded, has exactly this many rows, so
        that each row goes through the same kernels whichever rows are
        scored with it: its score does not depend on the batch.
        """
        if self.image_shape_ is None:
            return 256
        return int(np.clip(2**18 // self.n_features_in_, 16, 128))

    def _chunks(self, data: torch.Tensor | np.ndarray) -> Iterator[tuple[torch.Tensor, int]]:
        """Fixed-size chunks on the device and their number of real rows.

        Validated rows (an ndarray) are scaled chunk by chunk, so memory
        stays a few chunks, not a copy of X.
        """
        size = self._score_batch_rows()
        for batch in gen_batches(len(data), size):
            part = data[batch]
            if isinstance(part, np.ndarray):
                part = self._to_tensor(part)
            n_rows = len(part)
            if n_rows < size:
                part = torch.cat([part, part.new_zeros((size - n_rows, *part.shape[1:]))])
            yield part.to(self.device_, memory_format=self._memory_format()), n_rows

    def _per_chunk(self, data: torch.Tensor | np.ndarray, hook) -> list:
        """``hook(nets, chunk)`` on every fixed-size chunk, cut back to its real rows.

        ``hook`` returns a tensor or a tuple of tensors; the networks are in
        ``eval()`` mode, with no gradient (inference mode unless the
        detector's score needs autograd for a search).
        """
        with torch.inference_mode(not self._score_needs_grad), self._threads():
            nets = self._network_namespace()
            with torch.no_grad():
                parts = []
                for x, n in self._chunks(data):
                    out = hook(nets, x)
                    parts.append(
                        tuple(t[:n].detach() for t in out) if isinstance(out, tuple) else out[:n]
                    )
        return parts

    def _probe(self, search_steps: int) -> BaseGANDetector:
        """A shallow copy that scores one row per chunk, for a fixed amount of work.

        Loading a model file scores a few rows with it (a check that the
        weights can score); a detector whose score is a search (AnoGAN)
        cuts it to ``search_steps`` steps from one start.
        """
        probe = object.__new__(type(self))
        vars(probe).update(vars(self))
        probe._score_batch_rows = lambda: 1  # one row per chunk: no padding rows
        return probe

    def _score_tensor(self, data: torch.Tensor | np.ndarray) -> np.ndarray:
        """Anomaly scores (higher = abnormal) of scaled data or validated rows, as float64."""
        return torch.cat(self._per_chunk(data, self._ensemble_score)).double().cpu().numpy()

    def score_samples(self, X):
        """Normality score of each sample: the negated anomaly score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Samples to score, in the layout used for ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), dtype float64
            Higher means more normal.
        """
        check_is_fitted(self)
        X, _ = self._validate_input(X, reset=False)
        return -self._score_tensor(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like
            Samples to score, in the layout used for ``fit``.

        Returns
        -------
        decision : ndarray of shape (n_samples,), dtype float64
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like
            Samples to label, in the layout used for ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
        """
        decision = self.decision_function(X)
        labels = np.ones(len(decision), dtype=int)
        labels[decision < 0] = -1
        return labels

    def reconstruct(self, X):
        """The model's reconstruction of ``X``, in the units and shape of ``X``.

        Parameters
        ----------
        X : array-like
            Samples, in the layout used for ``fit``.

        Returns
        -------
        X_hat : ndarray of the shape of ``X``, dtype float64
        """
        check_is_fitted(self)
        X, shape = self._validate_input(X, reset=False)
        return self._reconstruct_rows(X).reshape(shape)

    def _reconstruct_rows(self, X: np.ndarray) -> np.ndarray:
        return self._from_tensor(torch.cat(self._per_chunk(X, self._ensemble_reconstruct)))

    def anomaly_map(self, X, *, return_scores: bool = False):
        """Per-feature / per-pixel absolute residual ``|x - reconstruct(x)|``.

        Parameters
        ----------
        X : array-like
            Samples, in the layout used for ``fit``.
        return_scores : bool, default False
            Also return ``score_samples(X)``, computed in the same pass (for
            callers that need both: AnoGAN then searches each sample's code
            once instead of twice).

        Returns
        -------
        residual : ndarray of the shape of ``X``, dtype float64
        scores : ndarray of shape (n_samples,), dtype float64
            ``score_samples(X)``; only when ``return_scores`` is True.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skanomaly import GANomalyDetector
        >>> X = load_digits().data
        >>> detector = GANomalyDetector(n_epochs=1, random_state=0).fit(X)
        >>> residual, scores = detector.anomaly_map(X[:5], return_scores=True)
        >>> residual.shape, scores.shape
        ((5, 64), (5,))
        """
        check_is_fitted(self)
        X, shape = self._validate_input(X, reset=False)
        if not return_scores:
            return np.abs(X - self._reconstruct_rows(X)).reshape(shape)
        scores, reconstructions = zip(
            *self._per_chunk(X, self._ensemble_score_and_reconstruct), strict=True
        )
        reconstruction = self._from_tensor(torch.cat(reconstructions))
        return np.abs(X - reconstruction).reshape(shape), -torch.cat(scores).double().cpu().numpy()

    def check_params(self):
        """Check the parameters against their documented constraints, without fitting.

        ``fit`` runs the same check; this one answers before any data is read
        (the command line calls it before loading a folder of images).

        Returns
        -------
        self : object

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError`` naming the parameter and the values it accepts.

        Examples
        --------
        >>> from skanomaly import GANomalyDetector
        >>> GANomalyDetector(latent_dim=-1).check_params()
        Traceback (most recent call last):
        ...
        sklearn.utils._param_validation.InvalidParameterError: The 'latent_dim' parameter ...
        """
        self._validate_params()
        return self

    # ------------------------------------------------------------------
    # Pickling: network state travels on the CPU, comes back on a live device;
    # the library versions travel too, and a mismatch warns on unpickling.
    # ------------------------------------------------------------------
    def __getstate__(self):
        from ._runtime import library_versions as _versions
        from .persistence._versions import PICKLE_VERSIONS as _PICKLE_VERSIONS

        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        for name in self._network_names:
            state[name] = _cpu_module(state[name])
        state[_PICKLE_VERSIONS] = _versions()
        return state

    def __setstate__(self, state):
        from .persistence._versions import PICKLE_VERSIONS as _PICKLE_VERSIONS
        from .persistence._versions import warn_on_version_mismatch as _warn_on_version_mismatch

        state = dict(state)
        _warn_on_version_mismatch(state.pop(_PICKLE_VERSIONS, None), "pickled detector", 3)
        super().__setstate__(state)
        if "device_" not in state:
            return
        self.device_ = available_device(self.device_)
        for module in self._networks().values():
            module.to(self.device_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
