"""The estimator contract shared by every skanomaly detector.

:class:`BaseGANDetector` holds, once for all detectors, the scikit-learn
contract: the parameters and their constraints, ``fit`` and what it leaves
(the fitted networks, registered by name, ``decision_scores_``,
``offset_``), the hooks a detector provides, ``check_params`` and pickling.
What it does is spread over modules of one concern each, mixed in here:

- :mod:`skanomaly._sizes`: the sizes, epochs and trimming share a fit resolves;
- :mod:`skanomaly._training`: the training loop and its callbacks (early
  stopping, divergence check, progress);
- :mod:`skanomaly._batchnorm`: batch-norm statistics of the final weights;
- :mod:`skanomaly._ensemble`: several networks side by side, bags, and the
  out-of-bag scores;
- :mod:`skanomaly._scoring`: batched scoring, the threshold, the public scores;
- :mod:`skanomaly._partial`: ``partial_fit``;
- :mod:`skanomaly._inputs`: input validation and scaling;
- :mod:`skanomaly._runtime`: devices, seeding and threads.

A detector subclass only wires its networks and says what one training step
and one score are (see the "hooks" section of the class).
"""

from __future__ import annotations

import inspect
import threading
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ._batchnorm import calibrate_batch_norm, calibration_rows
from ._ensemble import _EnsembleMixin
from ._inputs import _InputMixin
from ._optim import make_adam
from ._partial import _PartialFitMixin
from ._runtime import (
    PICKLE_VERSIONS,
    _cpu_module,
    _seeded_torch,
    _torch_threads,
    available_device,
    library_versions,
    resolve_device,
    warn_on_version_mismatch,
)
from ._scoring import _ScoringMixin
from ._sizes import _SizesMixin
from ._training import TrainingLoop, rows_of
from .losses import l1_per_row
from .networks import Backbone, dcgan_init

__all__ = ["BaseGANDetector"]


class BaseGANDetector(
    _PartialFitMixin,
    _ScoringMixin,
    _EnsembleMixin,
    _SizesMixin,
    OutlierMixin,
    _InputMixin,
    BaseEstimator,
    metaclass=ABCMeta,
):
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

    def _check_loaded(self, fitted: dict) -> None:
        """Check, in fitted attributes read from a model file, those of this detector
        alone (``ValueError`` names a bad one); complete what older files lack."""

    # ------------------------------------------------------------------
    # The networks: built for the data, registered by name.
    # ------------------------------------------------------------------
    # Names of the fitted networks, in the order they were built; set by
    # ``_register_network``. ``_networks``, pickling and skanomaly.save walk it.
    _network_names: tuple[str, ...] = ()

    def _backbone(self) -> Backbone:
        """The network factory for the fitted data: MLPs for rows, DCGANs for images."""
        return Backbone(
            self.n_features_in_,
            self.latent_dim_,
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

    def _shallow_copy(self) -> BaseGANDetector:
        """A new detector sharing this one's attribute values, for probes that change a few.

        Unlike ``copy.copy``, not through ``__getstate__`` (which moves the networks).
        """
        probe = object.__new__(type(self))
        vars(probe).update(vars(self))
        return probe

    def _networks(self) -> dict[str, nn.Module]:
        """The registered networks by attribute name, in the order they were built."""
        return {name: getattr(self, name) for name in self._network_names}

    def _network_namespace(self) -> SimpleNamespace:
        """The networks by name without the trailing underscore, in ``eval()`` mode."""
        return SimpleNamespace(
            **{name.rstrip("_"): module.eval() for name, module in self._networks().items()}
        )

    def _network_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {
            name: {k: v.detach().clone() for k, v in module.state_dict().items()}
            for name, module in self._networks().items()
        }

    # ------------------------------------------------------------------
    # Fitting.
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
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
        self._fit_or_forget(self._fit, X)
        return self

    def _forget_fit(self) -> None:
        """Remove every fitted attribute: a failed fit leaves no half-fitted model."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        vars(self).pop("_network_names", None)
        vars(self).pop("_partial_fit_state", None)

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit_folder(self, images, num_workers: int = 0) -> None:
        """``fit`` on images read from disk (:func:`skanomaly.datasets.fit_folder`)."""
        self._fit_or_forget(self._fit_stream, images, num_workers)

    def _fit_or_forget(self, fit, *args) -> None:
        try:
            fit(*args)
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

    def _fit(self, X) -> None:
        """Fit on ``X``."""
        X, _ = self._validate_input(X, reset=True)
        self._fit_data(
            X, lambda: self._fit_scaling(X), lambda: self._to_tensor(X, clip_to_bounds=True)
        )

    def _fit_stream(self, images, num_workers: int = 0) -> None:
        """``_fit`` on a folder of images read from disk batch by batch.

        ``images`` is a :class:`skanomaly.datasets.ImageFolderDataset`; its
        streamed scan gives the image shape and the pixel range the scaling
        needs, and the training, calibration and scoring passes read the
        images they need per batch (``num_workers`` background processes).
        """
        from ._streaming import ScaledImages  # here: only fit_folder streams (skanomaly.datasets)

        shape, low, high = images.scan(num_workers)
        self._set_image_input(shape)
        stream = ScaledImages(images, self, num_workers)
        self._fit_data(stream, lambda: self._fit_image_range(low, high), lambda: stream)

    def _fit_data(self, X, fit_scaling, scaled) -> None:
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
            self.history_ = TrainingLoop(self).fit(data, bags, rows, validation)
            self._fit_score_scale(data if validation is None else rows_of(data, rows))
        self.decision_scores_ = self._out_of_bag_scores(X, bags)
        self._check_finite_scores(self.decision_scores_)
        self.offset_ = self._fit_offset(self.decision_scores_)

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

    def _calibration_rows(self) -> int:
        return calibration_rows(self.n_features_in_, self.n_estimators_)

    def _calibrate_batch_norm(self, data: torch.Tensor) -> None:
        """Set every batch-norm layer's statistics from the final weights (``_batchnorm``).

        ``data`` (scaled training rows) goes through ``_calibration_pass``,
        as scoring feeds the networks, every member its copy.
        """
        nets = self._network_namespace()  # eval mode; batch norm is switched below

        def feed(x):
            self._calibration_pass(nets, self._fold(x.to(self.device_)))

        chunks = data.split(self._calibration_rows())
        calibrate_batch_norm(self._networks().values(), chunks, feed)

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
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        for name in self._network_names:
            state[name] = _cpu_module(state[name])
        state[PICKLE_VERSIONS] = library_versions()
        return state

    def __setstate__(self, state):
        state = dict(state)
        warn_on_version_mismatch(state.pop(PICKLE_VERSIONS, None), "pickled detector", 3)
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
