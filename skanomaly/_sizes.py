"""Sizes: what a fit resolves from the parameters and the data before building networks.

A mixin of :class:`skanomaly._base.BaseGANDetector`: widths, code size and
ensemble size (``_resolve_sizes``), the share robust training drops, the
epochs of ``n_epochs="auto"``, and the memory check for large images.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from . import _limits
from ._runtime import resolve_device
from .exceptions import ModelTooLargeError
from .networks import padded_side

__all__ = []

# ``n_epochs="auto"`` trains for about ``_auto_steps`` optimiser steps (a
# class attribute detectors may override), within these bounds on epochs.
# Large image sets need no more than the steps: on two 6,000-image
# Fashion-MNIST classes 7 epochs (658 steps) ranked as well as 15 (0.909
# mean ROC-AUC both, n_filters=16; docs/training.md).
_AUTO_EPOCHS = (1, 500)
# ``n_estimators="auto"`` on tabular data: networks trained side by side,
# each on its own part of the rows (docs/training.md).
_AUTO_ESTIMATORS = 5
# Default MLP widths and code size for tabular data (see ``_tabular_sizes``).
_TABULAR_HIDDEN = (32, 16)
_TABULAR_LATENT = 4
# Share of each batch robust training drops when ``contamination="auto"``.
_AUTO_TRIM = 0.1


class _SizesMixin:
    """The sizes, epochs and trimming share a fit resolves."""

    # ``robust_training="auto"`` per kind of data: tables are rarely clean;
    # image training sets (one class of good parts) usually are, and their
    # defaults were measured without it. A detector may override it.
    _robust_auto = {"tabular": True, "image": False}

    # Optimiser steps that ``n_epochs="auto"`` aims at, per kind of data:
    # enough for the networks to converge without memorising small data sets.
    _auto_steps = {"tabular": 600, "image": 600}
    # ``(full_until, floor)`` or None: beyond ``full_until`` training samples
    # (per ensemble member) the steps aimed at are scaled by
    # ``sqrt(full_until / n_samples)``, but by no less than ``floor`` (each
    # step then sees more distinct samples, and large sets were measured to
    # need fewer steps).
    _auto_steps_shrink = {"tabular": None, "image": None}
    # The default tabular sizes, for the docstrings (see ``_tabular_sizes``).
    _tabular_sizes_doc = (
        "4 (the number of features minus one, for fewer than 5)",
        "two layers of 32 and 16 units",
    )

    def _check_model_memory(self, n_samples: int) -> None:
        """Refuse images whose networks would not fit in memory, before building them.

        The convolutional networks work on the image padded to a power-of-two
        square, and their width grows with that side: a 5000x5000 image, or
        an 8x4096 strip, asks for far more memory than any machine has.
        """
        _, height, width = self.image_shape_
        side = padded_side(height, width)
        probe = self._shallow_copy()
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
            robust = self._robust_auto[self._data_kind()]
        if not robust:
            return 0.0
        return _AUTO_TRIM if self.contamination == "auto" else float(self.contamination)

    def _data_kind(self) -> str:
        """``"tabular"`` or ``"image"``: the key of the per-kind ``"auto"`` settings."""
        return "tabular" if self.image_shape_ is None else "image"

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
        kind = self._data_kind()
        steps = self._auto_steps[kind]
        if self._auto_steps_shrink[kind] is not None:
            full_until, floor = self._auto_steps_shrink[kind]
            steps *= max(floor, math.sqrt(min(1.0, full_until / n_samples)))
        epochs = math.ceil(steps / steps_per_epoch)
        return int(np.clip(epochs, *_AUTO_EPOCHS))
