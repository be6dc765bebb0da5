"""A safe file format for fitted detectors: weights and numbers, never code.

``joblib.dump`` / ``pickle`` store any Python object, and loading a pickle
runs whatever code the file names: fine for your own models, dangerous for
a file from someone else.  :func:`save` writes a zip archive that holds only

- ``manifest.json``: the format version, the versions of skanomaly, torch,
  scikit-learn and numpy that wrote it, the detector's class name, its
  constructor parameters and its fitted attributes (numbers, strings,
  tuples, lists, dicts), and a SHA-256 digest of each other member;
- ``arrays.npz``: the fitted numeric arrays (``shift_``, ``scale_``, ...),
  read back with ``numpy.load(allow_pickle=False)``;
- ``weights.pt``: each network's ``state_dict``, read back with
  ``torch.load(weights_only=True)``.

:func:`load` looks the class name up in a fixed list of skanomaly detectors
(nothing is imported by name), re-creates the networks with the detector's
own ``_build_networks`` from the restored sizes, and loads the weights into
them.  Anything unexpected (not a zip, a missing or malformed manifest, an
unknown class or parameter, a digest that does not match, a weights file
that would need to unpickle code) raises :class:`ValueError` before any of
it is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import keyword
import os
import re
import warnings
import zipfile
from typing import Any

import numpy as np
import sklearn
import torch

from .base import BaseGANDetector, available_device, resolve_device

__all__ = ["FORMAT_VERSION", "VersionMismatchWarning", "load", "read_metadata", "save"]

FORMAT_NAME = "skanomaly-model"
FORMAT_VERSION = 1
_MANIFEST, _ARRAYS, _WEIGHTS = "manifest.json", "arrays.npz", "weights.pt"
# A manifest holds parameters and small attributes; anything larger is not ours.
_MAX_MANIFEST_BYTES = 16 * 2**20
_FITTED_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")


class VersionMismatchWarning(UserWarning):
    """A model file was written by other versions of skanomaly, torch or sklearn."""


def _skanomaly_version() -> str:
    from . import __version__  # at call time: the package imports this module

    return __version__


def _versions() -> dict[str, str]:
    return {
        "skanomaly": _skanomaly_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
    }


def _detector_classes() -> dict[str, type[BaseGANDetector]]:
    """The allow-list: the detector classes skanomaly itself exports."""
    from . import detectors

    classes = (getattr(detectors, name) for name in detectors.__all__)
    return {
        cls.__name__: cls
        for cls in classes
        if isinstance(cls, type) and issubclass(cls, BaseGANDetector)
    }


# ----------------------------------------------------------------------
# Values <-> JSON.  Arrays go to arrays.npz and are referenced by name.
# ----------------------------------------------------------------------
def _encode(value: Any, where: str, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, f"{where}[{k!r}]", arrays) for k, v in value.items()}}
    if isinstance(value, torch.device):
        return {"device": str(value)}
    if isinstance(value, np.random.RandomState):
        name, keys, pos, has_gauss, cached = value.get_state()
        key = f"array_{len(arrays)}"
        arrays[key] = keys
        return {"random_state": [name, key, int(pos), int(has_gauss), float(cached)]}
    if isinstance(value, torch.Tensor):
        key = f"array_{len(arrays)}"
        arrays[key] = value.detach().cpu().numpy()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        if value.dtype == object and all(isinstance(v, str) for v in value.flat):
            return {"str_array": value.tolist()}  # e.g. feature_names_in_
        if value.dtype.kind in "biuf":
            key = f"array_{len(arrays)}"
            arrays[key] = value
            return {"array": key}
    raise TypeError(
        f"skanomaly.save cannot store {where} of type {type(value).__name__}; "
        "use joblib.dump for estimators holding arbitrary objects."
    )


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, content),) = value.items()
        if tag == "tuple" and isinstance(content, list):
            return tuple(_decode(v, arrays) for v in content)
        if tag == "dict" and isinstance(content, dict):
            return {str(k): _decode(v, arrays) for k, v in content.items()}
        if tag == "device" and isinstance(content, str):
            return torch.device(content)
        if tag == "array" and isinstance(content, str) and content in arrays:
            return arrays[content]
        if tag == "tensor" and isinstance(content, str) and content in arrays:
            return torch.from_numpy(arrays[content])
        if tag == "str_array" and isinstance(content, list):
            return np.asarray(content, dtype=object)
        if tag == "random_state" and isinstance(content, list) and len(content) == 5:
            name, key, pos, has_gauss, cached = content
            if isinstance(key, str) and key in arrays:
                random_state = np.random.RandomState()
                random_state.set_state((name, arrays[key], pos, has_gauss, cached))
                return random_state
    raise ValueError(f"malformed skanomaly model file: unexpected value {value!r:.80}")


# ----------------------------------------------------------------------
# Public functions.
# ----------------------------------------------------------------------
def save(
    estimator: BaseGANDetector, path: str | os.PathLike, *, metadata: dict | None = None
) -> None:
    """Save a skanomaly detector to ``path`` in the safe weights-only format.

    The file holds the constructor parameters, the fitted numeric attributes
    and the network weights, but no Python code, so :func:`load` can open
    files from untrusted sources.  Private attributes (a leading ``_``) are
    caches and are not stored.

    Parameters
    ----------
    estimator : AnoGANDetector, EGBADDetector or GANomalyDetector
        A skanomaly detector, fitted or not.
    path : str or path-like
        Where to write; by convention the suffix is ``.skan``.
    metadata : dict, default=None
        Plain JSON data (strings, numbers, booleans, None, lists, dicts with
        string keys) stored beside the model, e.g. how its inputs were
        prepared; :func:`read_metadata` returns it.

    See Also
    --------
    load : read the file back.
    joblib.dump : for your own models, pipelines and other sklearn objects.

    Notes
    -----
    Use ``joblib.dump`` / ``joblib.load`` for models you made and keep
    yourself (also inside a ``Pipeline`` or ``GridSearchCV``): exact and
    quick, but loading runs code from the file.  Use ``save`` / ``load`` to
    share a detector or to open one from elsewhere.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skanomaly
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> detector = skanomaly.GANomalyDetector(n_epochs=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skan")
    >>> skanomaly.save(detector, path)
    >>> restored = skanomaly.load(path)
    >>> np.array_equal(restored.score_samples(X), detector.score_samples(X))
    True
    """
    classes = _detector_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(
            f"skanomaly.save stores skanomaly detectors ({', '.join(sorted(classes))}), "
            f"got {name}; use joblib.dump for other objects."
        )
    try:
        # A round trip through JSON keeps exactly what load can give back.
        metadata = json.loads(json.dumps(metadata or {}, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be plain JSON data: {exc}") from None
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    arrays: dict[str, np.ndarray] = {}
    params = estimator.get_params(deep=False)
    networks = estimator._networks()
    fitted = {
        key: value
        for key, value in vars(estimator).items()
        if _FITTED_NAME.match(key) and key not in networks
    }
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "class": name,
        "params": {k: _encode(v, f"parameter {k!r}", arrays) for k, v in params.items()},
        "fitted": {k: _encode(v, f"attribute {k!r}", arrays) for k, v in fitted.items()},
        "networks": sorted(networks),
        "metadata": metadata,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members = {_ARRAYS: buffer.getvalue()}
    buffer = io.BytesIO()
    state = {
        k: {p: t.detach().cpu() for p, t in m.state_dict().items()} for k, m in networks.items()
    }
    torch.save(state, buffer)
    members[_WEIGHTS] = buffer.getvalue()
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MANIFEST, json.dumps(manifest, indent=1))
        for member, data in members.items():
            archive.writestr(member, data)


def _read_member(archive: zipfile.ZipFile, member: str, digest: str | None) -> bytes:
    try:
        data = archive.read(member)
    except KeyError:
        raise ValueError(f"not a skanomaly model file: {member} is missing") from None
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"corrupted skanomaly model file: {member} does not match its digest")
    return data


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    try:
        info = archive.getinfo(_MANIFEST)
    except KeyError:
        raise ValueError(f"not a skanomaly model file: no {_MANIFEST}") from None
    if info.file_size > _MAX_MANIFEST_BYTES:
        raise ValueError(f"not a skanomaly model file: {_MANIFEST} is too large")
    try:
        manifest = json.loads(_read_member(archive, _MANIFEST, None).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a skanomaly model file: unreadable {_MANIFEST} ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"not a skanomaly model file: {_MANIFEST} is not a skanomaly manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"unsupported skanomaly model format version {version!r}; this skanomaly "
            f"({_skanomaly_version()}) reads versions 1 to {FORMAT_VERSION}. Upgrade skanomaly."
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
            raise ValueError(f"malformed skanomaly model file: {key!r} is missing or invalid")
    return manifest


def _warn_on_version_mismatch(written: dict) -> None:
    here = _versions()
    # Compare releases only: "2.4.0+cu121" and "2.4.0+cpu" are the same torch.
    differ = [
        f"{name} {str(written.get(name))!r} (here {version!r})"
        for name, version in here.items()
        if str(written.get(name)).split("+")[0] != version.split("+")[0]
    ]
    if differ:
        warnings.warn(
            "this skanomaly model file was written with " + ", ".join(differ) + "; "
            "it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=3,
        )


def _open_archive(path: str | os.PathLike) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise ValueError(
            f"{os.fspath(path)!r} is not a skanomaly model file (not a zip archive); "
            "files written by joblib.dump are read with joblib.load, from trusted sources only."
        ) from None


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` stored by :func:`save` (``{}`` when none was given).

    Only the file's JSON manifest is read; nothing is unpickled.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    metadata : dict

    Raises
    ------
    ValueError
        If the file is not a skanomaly model file.

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
    with _open_archive(path) as archive:
        metadata = _read_manifest(archive).get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValueError("malformed skanomaly model file: 'metadata' is not a dict")
    return metadata


def load(path: str | os.PathLike, *, device: str | None = None) -> BaseGANDetector:
    """Load a detector written by :func:`save`, without running code from the file.

    Parameters
    ----------
    path : str or path-like
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
    ValueError
        If the file is not a skanomaly model file, is corrupted, names an
        unknown detector or parameter, or holds anything but plain weights.

    Warns
    -----
    VersionMismatchWarning
        If the file was written with other versions of skanomaly, torch,
        scikit-learn or numpy.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import skanomaly
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> detector = skanomaly.GANomalyDetector(n_epochs=5, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skan")
    >>> skanomaly.save(detector, path)
    >>> skanomaly.load(path).predict([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]])
    array([ 1, -1])
    """
    with _open_archive(path) as archive:
        manifest = _read_manifest(archive)
        digests = manifest["sha256"]
        array_bytes = _read_member(archive, _ARRAYS, digests.get(_ARRAYS, ""))
        weight_bytes = _read_member(archive, _WEIGHTS, digests.get(_WEIGHTS, ""))
    _warn_on_version_mismatch(manifest["versions"])

    cls = _detector_classes().get(manifest["class"])
    if cls is None:
        raise ValueError(
            f"unknown detector class {manifest['class']!r:.80} in the model file; "
            f"skanomaly.load reads {', '.join(sorted(_detector_classes()))}."
        )
    try:
        with np.load(io.BytesIO(array_bytes), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"corrupted skanomaly model file: unreadable {_ARRAYS} ({exc})") from None

    names = cls._get_param_names()
    unknown = sorted(set(manifest["params"]) - set(names))
    if unknown:
        raise ValueError(f"unknown parameters for {cls.__name__} in the model file: {unknown}")
    try:
        estimator = cls(**{k: _decode(v, arrays) for k, v in manifest["params"].items()})
        estimator._validate_params()
        fitted = {}
        for key, value in manifest["fitted"].items():
            if not _FITTED_NAME.match(key) or keyword.iskeyword(key) or key in names:
                raise ValueError(f"bad attribute name {key!r:.80}")
            fitted[key] = _decode(value, arrays)
    except (TypeError, ValueError) as exc:
        message = str(exc).removeprefix("malformed skanomaly model file: ")
        raise ValueError(f"malformed skanomaly model file: {message}") from None
    vars(estimator).update(fitted)

    networks = manifest["networks"]
    if networks:
        _load_networks(estimator, networks, weight_bytes, device)
        # Building may draw fitted values too (e.g. AnoGAN's start codes):
        # the saved ones win.
        vars(estimator).update({k: v for k, v in fitted.items() if k != "device_"})
    return estimator


def _load_networks(estimator, names: list, weight_bytes: bytes, device: str | None) -> None:
    try:
        state = torch.load(io.BytesIO(weight_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise ValueError(
            f"unsafe or corrupted skanomaly model file: {_WEIGHTS} holds more than "
            f"plain weights, or is damaged ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if not isinstance(state, dict) or sorted(state) != sorted(names):
        raise ValueError(f"malformed skanomaly model file: {_WEIGHTS} does not match the manifest")
    # Building draws initial weights: keep the user's global torch RNG untouched.
    with torch.random.fork_rng(devices=[]):
        try:
            estimator._build_networks()
        except (AttributeError, TypeError, ValueError) as exc:
            raise ValueError(
                f"malformed skanomaly model file: cannot rebuild the networks ({exc})"
            ) from None
    built = estimator._networks()
    if sorted(built) != sorted(names):
        raise ValueError(
            f"malformed skanomaly model file: networks {sorted(names)}, "
            f"but {type(estimator).__name__} has {sorted(built)}"
        )
    try:
        target = (
            resolve_device(device)
            if device is not None
            else (available_device(getattr(estimator, "device_", "cpu")))
        )
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"malformed skanomaly model file: bad device_ ({exc})") from None
    for name, module in built.items():
        try:
            module.load_state_dict(state[name])
        except (RuntimeError, TypeError, KeyError) as exc:
            raise ValueError(
                f"malformed skanomaly model file: weights of {name} do not fit ({exc})"
            ) from None
        module.to(target).eval()
    estimator.device_ = str(torch.device(target))
