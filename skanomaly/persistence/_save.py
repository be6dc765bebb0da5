"""Writing a model file: :func:`save`."""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _limits
from .._io import atomic_write
from .._registry import detector_classes
from .._runtime import _cpu_state_dict, library_versions
from .._version import MODEL_FORMAT, MODEL_FORMAT_VERSION
from ._codec import FITTED_NAME, encode, json_depth_ok, json_items
from ._zip import ARRAYS, MANIFEST, WEIGHTS, write_zip

if TYPE_CHECKING:
    from .._base import BaseGANDetector

__all__ = ["save"]


def save(
    estimator: BaseGANDetector, path: str | os.PathLike, *, metadata: dict | None = None
) -> None:
    """Save a skanomaly detector to ``path`` in the safe weights-only format.

    The file holds the constructor parameters, the fitted numeric attributes
    and the network weights, but no Python code, so :func:`load` can open
    files from untrusted sources.  Private attributes (a leading ``_``) are
    caches and are not stored.  The file is written whole or not at all: to
    a temporary file beside ``path``, flushed to disk, then renamed over it.

    Parameters
    ----------
    estimator : AnoGANDetector, EGBADDetector or GANomalyDetector
        A skanomaly detector, fitted or not.
    path : str, path-like or binary file object
        Where to write; by convention the suffix is ``.skan``.  An open
        file is written to where it stands, and left open.
    metadata : dict, default=None
        Plain JSON data (strings, numbers, booleans, None, lists, dicts with
        string keys) stored beside the model, e.g. how its inputs were
        prepared; :func:`read_metadata` returns it.

    Raises
    ------
    TypeError
        If ``estimator`` is not a skanomaly detector, holds a value the
        format cannot store (use ``joblib.dump`` then), or ``metadata`` is
        not a dict of plain JSON data nested at most 28 levels deep.
    ValueError
        If the manifest would be larger than :func:`load` reads (too much
        metadata).

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
    classes = detector_classes()
    name = type(estimator).__name__
    if classes.get(name) is not type(estimator):
        raise TypeError(
            f"skanomaly.save stores skanomaly detectors ({', '.join(sorted(classes))}), "
            f"got {name}; use joblib.dump for other objects."
        )
    metadata = _plain_metadata(metadata)
    arrays: dict[str, np.ndarray] = {}
    params = estimator.get_params(deep=False)
    networks = estimator._networks()
    fitted = {
        key: value
        for key, value in vars(estimator).items()
        if FITTED_NAME.match(key) and key not in networks
    }
    manifest = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "versions": library_versions(),
        "class": name,
        "params": {k: encode(v, f"parameter {k!r}", arrays) for k, v in params.items()},
        "fitted": {k: encode(v, f"attribute {k!r}", arrays) for k, v in fitted.items()},
        "networks": sorted(networks),
        "metadata": metadata,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    members = {ARRAYS: buffer.getvalue()}
    buffer = io.BytesIO()
    state = {name: _cpu_state_dict(module) for name, module in networks.items()}
    torch.save(state, buffer)
    members[WEIGHTS] = buffer.getvalue()
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    text = json.dumps(manifest, indent=1, allow_nan=False).encode()
    # load refuses larger manifests: do not write a file it cannot read.
    if len(text) > _limits.MAX_MANIFEST_BYTES or json_items(text) > _limits.MAX_JSON_ITEMS:
        raise ValueError(
            f"the model's manifest would take {len(text):,} bytes and {json_items(text):,} "
            f"values, more than skanomaly.load reads ({_limits.MAX_MANIFEST_BYTES:,} bytes, "
            f"{_limits.MAX_JSON_ITEMS:,} values): store less metadata"
        )
    members = {MANIFEST: text, **members}
    if hasattr(path, "write"):  # an open binary file: the caller owns it
        write_zip(path, members)
        return
    with atomic_write(path, durable=True) as handle:
        write_zip(handle, members)


def _plain_metadata(metadata: dict | None) -> dict:
    """``metadata`` as ``load`` will give it back, or ``TypeError`` if it cannot."""
    try:
        # A round trip through JSON keeps exactly what load can give back.
        metadata = json.loads(json.dumps(metadata or {}, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be plain JSON data: {exc}") from None
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    # load refuses manifests nested deeper than MAX_JSON_DEPTH; leave room
    # for the manifest's own levels.
    if not json_depth_ok({"a": {"b": {"c": {"d": metadata}}}}):
        raise TypeError(f"metadata nests more than {_limits.MAX_JSON_DEPTH - 4} levels deep")
    return metadata
