"""What a model file may describe: every size, value and tensor checked before use.

The limits come from :mod:`skanomaly._limits` ("Model files"); each check
raises a one-line :class:`~skanomaly.exceptions.ModelFileError`.  The
networks are sized on PyTorch's ``meta`` device before they are built, and
a loaded model must score a few fixed rows finitely.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from .. import _limits
from .._inputs import _INPUT_LIMIT
from ..exceptions import ModelFileError
from ._zip import WEIGHTS

__all__ = [
    "check_finite_scores",
    "check_fitted",
    "check_params",
    "check_state",
    "network_specs",
    "plain_sizes",
    "upgrade_single_network",
    "weight_cap",
]


def _malformed(what: str) -> ModelFileError:
    return ModelFileError(f"malformed skanomaly model file: {what}")


# ----------------------------------------------------------------------
# Parameters and fitted attributes.
# ----------------------------------------------------------------------
def plain_sizes(raw_fitted: dict) -> tuple[int, int]:
    """``n_features_in_`` and ``latent_dim_`` from the manifest, range-checked."""
    sizes = []
    for key, upper in (
        ("n_features_in_", _limits.MAX_FEATURES),
        ("latent_dim_", _limits.MAX_LATENT),
    ):
        value = raw_fitted.get(key, 0)
        if type(value) is not int or not 0 <= value <= upper:
            raise ModelFileError(
                f"skanomaly model file refused: {key} = {value!r:.40} is outside [1, {upper}]"
            )
        sizes.append(value)
    return sizes[0], sizes[1]


def upgrade_single_network(estimator, fitted: dict) -> None:
    """Files saved before tabular ensembles (0.3) hold one plainly trained network.

    They have no ``n_estimators_``: they load as what they are, one network
    without robust training, and score exactly as when they were saved.
    """
    if "n_estimators_" in fitted or "offset_" not in fitted:
        return
    fitted.update(n_estimators_=1, trim_fraction_=0.0)
    estimator.set_params(n_estimators=1, robust_training=False)


def check_params(estimator) -> None:
    """Bounds beyond the constructor's: what an untrusted file may ask for."""
    params = estimator.get_params(deep=False)
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise _malformed(f"parameter {name} = {value}")
    limits = {
        "latent_steps": _limits.MAX_SEARCH_STEPS,
        "n_filters": _limits.MAX_FILTERS,
        "latent_dim": _limits.MAX_LATENT,
        "batch_size": _limits.MAX_BATCH_SIZE,
    }
    for name, upper in limits.items():
        value = params.get(name)
        if isinstance(value, int) and value > upper:
            raise ModelFileError(
                f"skanomaly model file refused: {name} = {value} exceeds the limit {upper} "
                "for loaded models"
            )


def check_fitted(fitted: dict) -> None:
    """Types, ranges, shapes and finiteness of the shared fitted attributes.

    Each detector checks its own (``_check_loaded``).
    """

    def refuse(key, why):
        raise _malformed(f"{key} {why}")

    n = fitted.get("n_features_in_")
    if n is not None and (type(n) is not int or not 1 <= n <= _limits.MAX_FEATURES):
        refuse("n_features_in_", f"= {n!r:.40} is out of range")
    _check_image_shape(fitted.get("image_shape_"), n, refuse)
    hidden = fitted.get("hidden_dims_")
    if hidden is not None and (
        not isinstance(hidden, tuple)
        or not 1 <= len(hidden) <= _limits.MAX_HIDDEN_LAYERS
        or not all(type(h) is int and 1 <= h <= _limits.MAX_WIDTH for h in hidden)
    ):
        refuse("hidden_dims_", f"= {hidden!r:.60} is out of range")
    latent = fitted.get("latent_dim_")
    if latent is not None and (type(latent) is not int or not 1 <= latent <= _limits.MAX_LATENT):
        refuse("latent_dim_", f"= {latent!r:.40} is out of range")
    for key in ("shift_", "scale_"):
        if key in fitted:
            value = fitted[key]
            if not isinstance(value, np.ndarray) or value.shape != (n,):
                refuse(key, f"is not an array of {n} values")
    bounds = fitted.get("input_bounds_")
    if bounds is not None and (
        not isinstance(bounds, np.ndarray)
        or bounds.shape != (2, n)
        or not np.all(bounds[0] <= bounds[1])
    ):
        refuse("input_bounds_", f"is not (2, {n}) lower and upper bounds")
    if "scale_" in fitted and not np.all(fitted["scale_"] > 0):
        refuse("scale_", "has values that are not positive numbers")
    if "offset_" in fitted:
        offset = fitted["offset_"]
        if isinstance(offset, bool) or not isinstance(offset, (int, float)):
            refuse("offset_", "is not a number")
        if not math.isfinite(offset):
            refuse("offset_", f"is {offset}: the model cannot flag anything")
    _check_ensemble(fitted, refuse)
    scores = fitted.get("decision_scores_")
    if scores is not None and (
        not isinstance(scores, np.ndarray)
        or scores.ndim != 1
        or not len(scores)
        or scores.dtype.kind != "f"
    ):
        refuse("decision_scores_", "is not a non-empty array of anomaly scores")
    names = fitted.get("feature_names_in_")
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (n,)):
        refuse("feature_names_in_", f"is not {n} names")
    for key, value in fitted.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                refuse(key, "holds NaN or infinite values")


def _check_image_shape(shape, n_features, refuse) -> None:
    """``image_shape_``: (C, H, W) within the limits, and ``n_features`` values."""
    if shape is None:
        return
    if (
        not isinstance(shape, tuple)
        or len(shape) != 3
        or not all(type(s) is int for s in shape)
        or not 1 <= shape[0] <= _limits.MAX_CHANNELS
        or min(shape[1:]) < 8
    ):
        refuse("image_shape_", f"= {shape!r:.60} is not (C, H, W) with C <= 256, H, W >= 8")
    side = 2 ** math.ceil(math.log2(max(shape[1:])))
    if side > _limits.MAX_IMAGE_SIDE:
        raise ModelFileError(
            f"skanomaly model file refused: images of {shape[1]}x{shape[2]} pixels exceed "
            f"the limit of {_limits.MAX_IMAGE_SIDE} for loaded models"
        )
    if n_features is not None and math.prod(shape) != n_features:
        refuse("image_shape_", f"{shape} does not match n_features_in_ = {n_features}")


def _check_ensemble(fitted: dict, refuse) -> None:
    """The ensemble's size, trimming and member scaling."""
    members = fitted.get("n_estimators_")
    if members is not None and (
        type(members) is not int or not 1 <= members <= _limits.MAX_ESTIMATORS
    ):
        refuse("n_estimators_", f"= {members!r:.40} is not a number of networks from 1 to 64")
    trim = fitted.get("trim_fraction_")
    if trim is not None and (type(trim) is not float or not 0.0 <= trim <= 0.5):
        refuse("trim_fraction_", f"= {trim!r:.40} is not a fraction in [0, 0.5]")
    scaling = fitted.get("member_scaling_")
    if (members or 1) > 1 and (
        not isinstance(scaling, np.ndarray)
        or scaling.shape != (2, members)
        or not np.all(scaling[1] > 0)
    ):
        refuse("member_scaling_", f"is not the (2, {members}) centres and positive spreads")


# ----------------------------------------------------------------------
# Networks and tensors.
# ----------------------------------------------------------------------
def network_specs(estimator, names: list) -> dict:
    """The networks the file asks for, worked out without building them; within the limit."""
    try:
        specs = _limits.network_specs(estimator)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _malformed(f"cannot size the networks ({exc})") from None
    if sorted(specs) != sorted(names):
        raise _malformed(
            f"networks {sorted(names)!r:.80}, but {type(estimator).__name__} has {sorted(specs)}"
        )
    values = sum(math.prod(shape) for spec in specs.values() for shape, _ in spec.values())
    if values > _limits.MAX_NETWORK_VALUES:
        raise ModelFileError(
            f"skanomaly model file refused: its networks would hold {values:,} values, more "
            f"than the limit of {_limits.MAX_NETWORK_VALUES:,} for loaded models"
        )
    return specs


def weight_cap(specs: dict) -> int:
    """Bytes ``weights.pt`` may unpack to: the networks' values plus framing."""
    tensors = [(shape, dtype) for spec in specs.values() for shape, dtype in spec.values()]
    if not tensors:
        return _limits.FRAMING_BYTES
    n_bytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in tensors)
    return _limits.FRAMING_BYTES + n_bytes + _limits.FRAMING_BYTES_PER_TENSOR * (len(tensors) + 64)


def check_state(state, specs: dict) -> None:
    """Networks' state dicts that hold exactly the tensors ``specs`` describe, finite.

    Every tensor's type, dtype, shape, strides and storage are checked
    before any operation reads its values: a tensor whose strides repeat
    values (e.g. ``expand``-ed: a huge shape over one stored number) or
    whose storage holds more than its values is refused, so nothing here
    allocates more than the file's own bytes.
    """
    if not isinstance(state, dict) or sorted(state) != sorted(specs):
        raise _malformed(f"{WEIGHTS} does not match the manifest")
    for name, tensors in state.items():
        if not isinstance(tensors, dict) or set(tensors) != set(specs[name]):
            raise _malformed(
                f"{name} in {WEIGHTS} is not the state_dict of the networks the manifest describes"
            )
        for key, tensor in tensors.items():
            _check_tensor(tensor, *specs[name][key], f"{name}.{key}")
    # Only now are values read, a bounded slice at a time.
    for name, tensors in state.items():
        for key, tensor in tensors.items():
            if tensor.is_floating_point() and not _all_finite(tensor):
                raise ModelFileError(
                    f"skanomaly model file refused: weights {name}.{key:.60} hold NaN or "
                    "infinite values"
                )


def _check_tensor(tensor, shape: tuple, dtype: torch.dtype, where: str) -> None:
    """A plain dense CPU tensor of ``shape`` and ``dtype`` over its own storage; metadata only."""

    def refuse(why):
        raise _malformed(f"weights {where:.80} {why}")

    if type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        refuse(f"are a {type(tensor).__name__}, not a tensor")
    if tensor.layout != torch.strided or tensor.device.type != "cpu" or tensor.is_quantized:
        refuse("are not a plain tensor")
    if tensor.dtype != dtype:
        refuse(f"are {tensor.dtype}, not {dtype}")
    if tuple(tensor.shape) != shape:
        refuse(f"have shape {tuple(tensor.shape)!r:.80}, not {shape}")
    n_bytes = math.prod(shape) * tensor.element_size()
    if (
        tensor.is_neg()
        or tensor.storage_offset() != 0
        or not _dense(shape, tensor.stride())
        or tensor.untyped_storage().nbytes() != n_bytes
    ):
        refuse("are not stored densely, each value once")


def _dense(shape: tuple, strides: tuple) -> bool:
    """Whether ``strides`` lay ``shape`` out with no gap and no repeat (any axis order)."""
    expected = 1
    for size, stride in sorted(zip(shape, strides, strict=True), key=lambda pair: pair[1]):
        if size == 1:
            continue  # any stride: the axis is never stepped along
        if stride != expected:
            return False
        expected *= size
    return True


def _all_finite(tensor: torch.Tensor) -> bool:
    """Whether every value is finite, looking at ``FINITE_CHUNK`` values at a time."""
    flat = tensor.as_strided((tensor.numel(),), (1,))  # dense, from offset 0: checked
    chunk = _limits.FINITE_CHUNK
    return all(
        bool(torch.isfinite(flat[start : start + chunk]).all())
        for start in range(0, flat.numel(), chunk)
    )


# ----------------------------------------------------------------------
# The scoring probe.
# ----------------------------------------------------------------------
def check_finite_scores(estimator) -> None:
    """Refuse a model that cannot score: e.g. broken normalisation statistics.

    A fixed amount of work, whatever the file says: four rows, scored one
    at a time (the centre of the training data; every feature at the
    largest scaled value, which all larger inputs saturate to; at the
    smallest; alternating), on the detector's own probe copy, whose search
    (if its score is one) starts from one code and runs at most
    ``PROBE_SEARCH_STEPS`` steps.  The extreme rows are where large
    weights overflow first; every model ``fit`` makes scores them finitely.
    """
    probe = estimator._probe(_limits.PROBE_SEARCH_STEPS)
    ones = torch.ones(estimator.n_features_in_)
    alternating = ones.clone()
    alternating[1::2] = -1
    shape = (1, *estimator.image_shape_) if estimator.image_shape_ is not None else (1, -1)
    for row in (0 * ones, ones, -ones, alternating):
        # Scaled rows, as _to_tensor makes them: the centre, and +-_INPUT_LIMIT.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = probe._score_tensor((row * _INPUT_LIMIT).reshape(shape))
        if not np.all(np.isfinite(score)):
            raise ModelFileError(
                "skanomaly model file refused: the model gives non-finite scores (its weights "
                "or statistics are broken)"
            )
