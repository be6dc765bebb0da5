"""Input layouts and scaling: what the networks see of ``X``.

Rows of features (2-D ``X``) or images (3-D ``(n, H, W)``, 4-D
``(n, C, H, W)``, or 2-D rows with ``image_shape``) are validated, flattened
to 2-D float rows, and scaled with statistics learned in ``fit``: tabular
features robustly standardised, image pixels mapped to ``[-1, 1]``.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral

import numpy as np
import torch
from scipy.sparse import issparse
from sklearn.utils.validation import validate_data

from .exceptions import ConstantFeatureWarning
from .networks import padded_side

# Largest scaled input magnitude the networks see (see ``_to_tensor``).
_INPUT_LIMIT = 1e6

# Tabular inputs are clipped this many robust spreads from the training median.
_ROBUST_BOUND = 10.0


def _robust_bounds(X: np.ndarray) -> np.ndarray:
    """``(2, n_features)`` clipping bounds: median -+ ``_ROBUST_BOUND`` robust spreads.

    The spread is the interquartile range / 1.349; where that is zero (a
    mostly constant feature) the 1-99 % range / 4.65, and where that is zero
    too, the feature is bounded by its training range only.
    """
    q01, q25, median, q75, q99 = np.percentile(X, [1, 25, 50, 75, 99], axis=0)
    spread = (q75 - q25) / 1.349
    wide = (q99 - q01) / 4.65
    spread = np.where(spread > 0, spread, wide)
    low = np.where(spread > 0, median - _ROBUST_BOUND * spread, X.min(axis=0))
    high = np.where(spread > 0, median + _ROBUST_BOUND * spread, X.max(axis=0))
    return np.stack([low, high])


def _refuse_channels_last(X: np.ndarray) -> None:
    """Say so when 4-D images come channels-last, ``(n, H, W, C)``.

    Read as ``(n, C, H, W)`` they would have ``C = H`` channels and a width
    of ``C`` pixels; no image narrower than 8 pixels is valid, so a last
    axis of 1 to 4 with a longer second axis can only be channels.
    """
    if X.ndim == 4 and X.shape[-1] <= 4 < X.shape[1]:
        n, height, width, channels = X.shape
        raise ValueError(
            f"X has shape {X.shape}, which looks channels-last (n, H, W, C) = "
            f"({n}, {height}, {width}, {channels}); skanomaly takes images as (n, C, H, W): "
            "pass np.moveaxis(X, -1, 1)."
        )


def _image_shape_param(image_shape) -> tuple[int, int, int]:
    """The ``image_shape`` parameter as ``(C, H, W)``; ``(H, W)`` means one channel."""
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or not all(isinstance(s, Integral) and s > 0 for s in shape):
        raise ValueError(
            f"image_shape must be (C, H, W) or (H, W) with positive integers, got {image_shape!r}"
        )
    return tuple(int(s) for s in shape)


class _InputMixin:
    """Validation of ``X`` and its scaling to and from the networks' tensors.

    Sets ``image_shape_``, ``n_features_in_`` (and ``feature_names_in_``),
    ``shift_``, ``scale_`` and, for tabular data, ``input_bounds_``.
    """

    def _validate_input(self, X, *, reset: bool) -> tuple[np.ndarray, tuple[int, ...]]:
        """Validate ``X``; return it as 2-D float rows and its original shape."""
        image_shape = None
        if not (issparse(X) or hasattr(X, "iloc")):
            if not hasattr(X, "ndim"):
                X = np.asarray(X)
            if X.ndim > 4:
                raise ValueError(f"Expected a 2-D, 3-D or 4-D array, got {X.ndim}-D input.")
            if X.ndim in (3, 4):
                X = np.asarray(X)
                _refuse_channels_last(X)
                image_shape = X.shape[1:] if X.ndim == 4 else (1, *X.shape[1:])
                if not reset and self.image_shape_ is None:
                    raise ValueError(
                        f"{type(self).__name__} was fitted on tabular data with "
                        f"{self.n_features_in_} features, got images of shape {image_shape}."
                    )
                if not reset and image_shape != self.image_shape_:
                    raise ValueError(
                        f"wrong image shape: {type(self).__name__} was fitted on images of "
                        f"shape (C, H, W) = {self.image_shape_}, got {image_shape}."
                    )
        shape = getattr(X, "shape", None)
        # An explicit row length: reshape(0, -1) is ambiguous for empty input.
        X2d = X.reshape(len(X), math.prod(X.shape[1:])) if image_shape is not None else X
        X2d = validate_data(
            self,
            X2d,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_min_samples=2 if reset else 1,
        )
        if reset:
            if image_shape is None and self.image_shape is not None:
                image_shape = _image_shape_param(self.image_shape)
                if math.prod(image_shape) != X2d.shape[1]:
                    raise ValueError(
                        f"image_shape={tuple(self.image_shape)} has {math.prod(image_shape)} "
                        f"values per image, but X has {X2d.shape[1]} features."
                    )
            elif image_shape is not None and self.image_shape is not None:
                if _image_shape_param(self.image_shape) != image_shape:
                    raise ValueError(
                        f"image_shape={tuple(self.image_shape)} does not match the shape of "
                        f"the images in X, {image_shape}."
                    )
            if image_shape is not None:
                padded_side(*image_shape[1:])  # raises for images smaller than 8x8
            self.image_shape_ = image_shape
        return X2d, (tuple(shape) if image_shape is not None and shape else X2d.shape)

    def _fit_scaling(self, X: np.ndarray) -> None:
        """Standardise tabular features robustly; map image pixels to [-1, 1].

        Tabular features are first clipped to ``input_bounds_``, the median
        plus or minus ``_ROBUST_BOUND`` robust spreads (the interquartile
        range over 1.349, a standard deviation for Gaussian data), and then
        standardised. One glitch row at 1e4 among normal rows would
        otherwise set the standard deviation by itself and squash every
        normal row onto zero; clipped, it is one more extreme row. The
        networks train on the clipped rows; rows are scored unclipped.
        """
        eps = np.finfo(np.float64).eps
        if self.image_shape_ is None:
            # Statistics of each feature divided by its own magnitude: unit-free
            # (a feature in 1e-15 units is as good as one in 1e15 units), and
            # values near the float64 limit cannot overflow the sum of squares.
            magnitude = np.abs(X).max(axis=0)
            magnitude = np.where(magnitude > 0, magnitude, 1.0)
            unit = X / magnitude
            self.input_bounds_ = _robust_bounds(unit) * magnitude
            unit = np.clip(
                unit, self.input_bounds_[0] / magnitude, self.input_bounds_[1] / magnitude
            )
            self.shift_ = unit.mean(axis=0) * magnitude
            scale = unit.std(axis=0) * magnitude
            # Constant: no spread beyond the rounding of the feature's own values.
            constant = scale <= 10 * eps * magnitude
            if constant.any():
                warnings.warn(
                    f"{int(constant.sum())} of the {len(scale)} features take a single value "
                    f"in the training data (feature{'s' if constant.sum() > 1 else ''} "
                    f"{', '.join(map(str, np.flatnonzero(constant)[:10]))}"
                    f"{', ...' if constant.sum() > 10 else ''}): they are centred, not "
                    "scaled, and the networks learn nothing from them.",
                    ConstantFeatureWarning,
                    stacklevel=4,
                )
        else:
            self._fit_image_range(float(X.min()), float(X.max()))
            return
        # Constant columns / images: leave them centred rather than divide by zero.
        scale[constant] = 1.0
        self.scale_ = scale

    def _fit_image_range(self, low: float, high: float) -> None:
        """Map image values in ``[low, high]`` (the training range) to [-1, 1]."""
        eps = np.finfo(np.float64).eps
        self.shift_ = np.full(self.n_features_in_, high / 2 + low / 2)
        scale = np.full(self.n_features_in_, high / 2 - low / 2)
        # Constant images: leave them centred rather than divide by zero.
        scale[scale <= 10 * eps * max(abs(low), abs(high))] = 1.0
        self.scale_ = scale

    def _set_image_input(self, image_shape: tuple[int, int, int]) -> None:
        """What ``_validate_input(reset=True)`` sets, for images that are not an array.

        For training on images read from disk: ``image_shape_`` and
        ``n_features_in_`` from the images' ``(C, H, W)``, checked against
        the ``image_shape`` parameter as for arrays.
        """
        image_shape = tuple(int(s) for s in image_shape)
        if self.image_shape is not None and _image_shape_param(self.image_shape) != image_shape:
            raise ValueError(
                f"image_shape={tuple(self.image_shape)} does not match the shape of "
                f"the images, {image_shape}."
            )
        padded_side(*image_shape[1:])  # raises for images smaller than 8x8
        vars(self).pop("feature_names_in_", None)
        self.n_features_in_ = math.prod(image_shape)
        self.image_shape_ = image_shape

    def _to_tensor(self, X: np.ndarray, *, clip_to_bounds: bool = False) -> torch.Tensor:
        """Scaled float32 tensor in the networks' layout (rows or images).

        ``clip_to_bounds`` (training data only) clips tabular rows to
        ``input_bounds_``; rows to score are not clipped, so that an outlier
        far beyond the training data keeps its distance.
        """
        bounds = getattr(self, "input_bounds_", None)  # None for images
        if clip_to_bounds and bounds is not None:
            X = np.clip(X, bounds[0], bounds[1])
        with np.errstate(over="ignore"):  # an overflow to inf is clipped just below
            scaled = (X - self.shift_) / self.scale_
        # Saturate far-out values (a million training spreads away) so that
        # no float32 activation overflows: finite input, finite scores.
        np.clip(scaled, -_INPUT_LIMIT, _INPUT_LIMIT, out=scaled)
        tensor = torch.from_numpy(scaled.astype(np.float32))
        if self.image_shape_ is not None:
            tensor = tensor.reshape(-1, *self.image_shape_)
        return tensor

    def _from_tensor(self, t: torch.Tensor) -> np.ndarray:
        """Undo ``_to_tensor``: 2-D float64 rows in the input's units."""
        rows = t.detach().to("cpu", torch.float64).reshape(len(t), -1).numpy()
        return rows * self.scale_ + self.shift_
