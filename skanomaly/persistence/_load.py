"""Reading a model file: :func:`load` and :func:`read_metadata`."""

from __future__ import annotations

import contextlib
import io
import keyword
import os
import zipfile
from typing import TYPE_CHECKING

import torch

from .. import _limits
from .._registry import detector_classes
from .._runtime import available_device, resolve_device, warn_on_version_mismatch
from .._version import MODEL_FORMAT, MODEL_FORMAT_VERSION, __version__
from ..exceptions import ModelFileError
from ._checks import (
    check_finite_scores,
    check_fitted,
    check_params,
    check_state,
    network_specs,
    plain_sizes,
    upgrade_single_network,
    weight_cap,
)
from ._codec import FITTED_NAME, decode, parse_manifest, read_arrays
from ._zip import (
    ARRAYS,
    MANIFEST,
    WEIGHTS,
    NotAZip,
    checked_zip,
    open_model_file,
    read_capped,
    weights_layout,
)

if TYPE_CHECKING:
    from .._base import BaseGANDetector

__all__ = ["load", "read_metadata"]


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` stored by :func:`save` (``{}`` when none was given).

    Only the file's JSON manifest is read; nothing is unpickled.  The
    metadata is what was given to :func:`save`, unchecked: whoever uses
    it checks what it needs (``skanomaly score`` checks the training
    scores that ``skanomaly train`` stores there).

    Parameters
    ----------
    path : str, path-like or binary file object
        A file written by :func:`save`.

    Returns
    -------
    metadata : dict

    Raises
    ------
    ModelFileError
        If the file is not a skanomaly model file (a ``ValueError``).
    OSError
        If ``path`` cannot be opened (missing, no permission).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skanomaly
    >>> from skanomaly.persistence import read_metadata
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> detector = skanomaly.GANomalyDetector(n_epochs=1, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skan")
    >>> skanomaly.save(detector, path, metadata={"source": "sensor 7"})
    >>> read_metadata(path)
    {'source': 'sensor 7'}
    """
    return _guarded(_read_metadata, path)


def load(path: str | os.PathLike, *, device: str | None = None) -> BaseGANDetector:
    """Load a detector written by :func:`save`, without running code from the file.

    The file is checked before anything it describes is allocated: its zip
    layers may hold only the members :func:`save` writes, stored or
    deflated; each member is read only up to the size its manifest
    implies; every parameter and fitted size is range-checked; the
    networks' shapes are worked out (without allocating them) and every
    stored tensor must match them, with plain dense strides, before its
    values are looked at.  A fitted model must give finite scores, or it is
    refused.  What ``load`` may allocate is bounded: see "Limits for files
    from elsewhere" in the user guide.

    Parameters
    ----------
    path : str, path-like or binary file object
        A file written by :func:`save`.
    device : str, default=None
        Where to put the networks. ``None``: the device the model was trained
        on when this machine has it, else (with a warning) the first GPU or
        the CPU.

    Returns
    -------
    estimator : AnoGANDetector, EGBADDetector or GANomalyDetector
        The detector, fitted if it was saved fitted.

    Raises
    ------
    ModelFileError
        A ``ValueError``, if the file is not a skanomaly model file, is
        damaged, names an unknown detector or parameter, holds anything but
        plain weights, exceeds the size limits, or cannot give finite
        scores; always one line.
    OSError
        If ``path`` cannot be opened (missing, no permission).

    Warns
    -----
    VersionMismatchWarning
        If the file was written with other versions of skanomaly, torch,
        scikit-learn or numpy.

    Examples
    --------
    An open binary file works as well as a path:

    >>> import io
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector, load, save
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> buffer = io.BytesIO()
    >>> save(GANomalyDetector(n_epochs=5, random_state=0).fit(X), buffer)
    >>> detector = load(io.BytesIO(buffer.getvalue()))
    >>> detector.predict([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]])
    array([ 1, -1])
    """
    return _guarded(_load, path, device)


def _guarded(function, path, *args):
    """Run a reading step; any failure becomes a one-line ``ModelFileError``.

    Only the path's own errors (a missing file, no permission) stay
    ``OSError``; whatever the file's contents make the libraries raise
    (``zlib.error``, ``BadZipFile``, ``RecursionError``, ``MemoryError``...)
    is reported as a damaged or refused model file.
    """
    if hasattr(path, "read"):  # an open binary file: the caller owns it
        handle, path = contextlib.nullcontext(path), getattr(path, "name", "<file object>")
    else:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except IsADirectoryError:
            message = f"{os.fspath(path)!r} is a folder, not a skanomaly model file"
            raise ModelFileError(message) from None
    try:
        with handle as stream:
            return function(stream, path, *args)
    except ModelFileError:
        raise
    except ValueError as exc:
        message = " ".join(str(exc).split())[:300]
        if "skanomaly model file" not in message:
            message = f"malformed skanomaly model file: {message}"
        raise ModelFileError(message) from None
    except (Exception, RecursionError, MemoryError) as exc:
        message = " ".join(str(exc).split())[:200]
        raise ModelFileError(
            f"damaged or unsupported skanomaly model file {str(path)!r} "
            f"({type(exc).__name__}: {message})"
        ) from None


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    """The manifest: a skanomaly manifest of a version this release reads, well formed."""
    manifest = parse_manifest(read_capped(archive, MANIFEST, _limits.MAX_MANIFEST_BYTES, None))
    if not isinstance(manifest, dict) or manifest.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"not a skanomaly model file: {MANIFEST} is not a skanomaly manifest")
    version = manifest.get("format_version")
    if type(version) is not int or not 1 <= version <= MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"unsupported skanomaly model format version {version!r:.20}; this skanomaly "
            f"({__version__}) reads versions 1 to {MODEL_FORMAT_VERSION}. Upgrade skanomaly."
        )
    expected = {
        "versions": dict,
        "class": str,
        "params": dict,
        "fitted": dict,
        "networks": list,
        "sha256": dict,
    }
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind):
            raise ModelFileError(f"malformed skanomaly model file: {key!r} is missing or invalid")
    if not all(isinstance(n, str) for n in manifest["networks"]):
        raise ModelFileError("malformed skanomaly model file: 'networks' is not a list of names")
    return manifest


def _read_metadata(handle, path) -> dict:
    with open_model_file(handle, path) as archive:
        metadata = _read_manifest(archive).get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError("malformed skanomaly model file: 'metadata' is not a dict")
    return metadata


def _load(handle, path, device: str | None) -> BaseGANDetector:
    with open_model_file(handle, path) as archive:
        manifest = _read_manifest(archive)
        digests = manifest["sha256"]
        classes = detector_classes()
        cls = classes.get(manifest["class"])
        if cls is None:
            raise ModelFileError(
                f"unknown detector class {manifest['class']!r:.80} in the model file; "
                f"skanomaly.load reads {', '.join(sorted(classes))}."
            )
        names = cls._get_param_names()
        unknown = sorted(set(manifest["params"]) - set(names))
        if unknown:
            raise ModelFileError(
                f"unknown parameters for {cls.__name__} in the model file: {unknown!r:.200}"
            )
        raw_fitted = manifest["fitted"]
        for key in raw_fitted:
            if not FITTED_NAME.match(key) or keyword.iskeyword(key) or key in names:
                raise ModelFileError(
                    f"malformed skanomaly model file: bad attribute name {key!r:.80}"
                )
        n_features, latent_dim = plain_sizes(raw_fitted)
        array_cap = _limits.FRAMING_BYTES + 8 * (
            4 * n_features + _limits.MAX_START_CODES * latent_dim
        )
        arrays = read_arrays(
            read_capped(archive, ARRAYS, array_cap, digests.get(ARRAYS, "")), array_cap
        )
        estimator = _restore_attributes(cls, manifest, arrays)
        del arrays
        networks = manifest["networks"]
        specs = network_specs(estimator, networks) if networks else {}
        cap = weight_cap(specs)
        weight_bytes = read_capped(archive, WEIGHTS, cap, digests.get(WEIGHTS, ""))
    # Point at the caller of skanomaly.load: past _load, _guarded and load.
    warn_on_version_mismatch(manifest["versions"], stacklevel=5)
    fitted = {k: v for k, v in vars(estimator).items() if k in raw_fitted}
    if networks:
        state = _read_state(weight_bytes, cap, specs)
        del weight_bytes  # the tensors are copies: free the file's bytes before building
        _load_networks(estimator, state, device)
        del state
        # Building may draw fitted values too (e.g. start codes): the saved ones win.
        vars(estimator).update({k: v for k, v in fitted.items() if k != "device_"})
        if hasattr(estimator, "offset_"):
            check_finite_scores(estimator)
    return estimator


def _restore_attributes(cls, manifest: dict, arrays: dict) -> BaseGANDetector:
    """The unfitted-then-fitted estimator, every value checked; no networks yet."""
    estimator = cls(**{k: decode(v, arrays) for k, v in manifest["params"].items()})
    estimator._validate_params()
    check_params(estimator)
    fitted = {key: decode(value, arrays) for key, value in manifest["fitted"].items()}
    upgrade_single_network(estimator, fitted)
    estimator._check_loaded(fitted)
    check_fitted(fitted)
    vars(estimator).update(fitted)
    return estimator


def _read_state(weight_bytes: bytes, cap: int, specs: dict) -> dict:
    """The networks' state dicts: exactly the tensors ``specs`` describe, finite, or refused."""
    n_tensors = sum(len(spec) for spec in specs.values())
    # torch's format is itself a zip: its records are bounded like ours.
    try:
        checked_zip(io.BytesIO(weight_bytes), weights_layout(cap, n_tensors)).close()
    except (NotAZip, zipfile.BadZipFile, EOFError):
        raise ModelFileError(
            f"corrupted skanomaly model file: {WEIGHTS} is not a torch archive"
        ) from None
    try:
        state = torch.load(io.BytesIO(weight_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise ModelFileError(
            f"unsafe or corrupted skanomaly model file: {WEIGHTS} holds more than "
            f"plain weights, or is damaged ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    check_state(state, specs)
    return state


def _load_networks(estimator, state: dict, device) -> None:
    # Building draws initial weights: keep the user's global torch RNG untouched.
    with torch.random.fork_rng(devices=[]):
        try:
            estimator._build_networks()
        except (AttributeError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"malformed skanomaly model file: cannot rebuild the networks ({exc})"
            ) from None
    built = estimator._networks()
    try:
        target = (
            resolve_device(device)
            if device is not None
            else (available_device(getattr(estimator, "device_", "cpu")))
        )
    except (RuntimeError, TypeError) as exc:
        raise ModelFileError(f"malformed skanomaly model file: bad device_ ({exc})") from None
    for name, module in built.items():
        try:
            module.load_state_dict(state[name])
        except (RuntimeError, TypeError, KeyError) as exc:
            message = " ".join(str(exc).split())[:200]
            raise ModelFileError(
                f"malformed skanomaly model file: weights of {name} do not fit ({message})"
            ) from None
        module.to(target).eval()
    estimator.device_ = str(torch.device(target))
