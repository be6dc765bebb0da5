"""Values <-> strict JSON, with the numeric arrays beside it in ``arrays.npz``.

Parameters and fitted attributes become JSON values; arrays and tensors go
to ``arrays.npz`` and are referenced by name.  Reading refuses anything
``save`` does not write: tags it does not know, ``NaN`` tokens, numbers
that overflow, nesting beyond the limit, ``.npy`` headers that lie about
their data.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
import zlib
from typing import Any

import numpy as np
import torch

from .. import _limits
from ..exceptions import ModelFileError
from ._zip import ARRAYS, MANIFEST, NotAZip, arrays_layout, checked_zip

__all__ = [
    "FITTED_NAME",
    "decode",
    "encode",
    "json_depth_ok",
    "json_items",
    "parse_manifest",
    "read_arrays",
]

# The fitted attributes a model file stores: public, with a trailing underscore.
FITTED_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")


# ----------------------------------------------------------------------
# Values <-> JSON.
# ----------------------------------------------------------------------
def encode(value: Any, where: str, arrays: dict[str, np.ndarray]) -> Any:
    """``value`` as JSON; its arrays are added to ``arrays`` and referenced by key.

    Raises
    ------
    TypeError
        If ``value`` (``where`` in the message) holds anything but numbers,
        strings, tuples, lists, dicts with string keys, devices, random
        states, tensors and numeric or string arrays.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        # Strict JSON has no NaN / Infinity: tag them, so a load can refuse
        # them where a finite number is required.
        return float(value) if math.isfinite(value) else {"float": str(float(value))}
    if isinstance(value, tuple):
        return {"tuple": [encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode(v, f"{where}[{i}]", arrays) for i, v in enumerate(value)]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, f"{where}[{k!r}]", arrays) for k, v in value.items()}}
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


def decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value :func:`encode` made ``value`` from; anything else is refused."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((tag, content),) = value.items()
        if tag == "tuple" and isinstance(content, list):
            return tuple(decode(v, arrays) for v in content)
        if tag == "dict" and isinstance(content, dict):
            return {str(k): decode(v, arrays) for k, v in content.items()}
        if tag == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
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
    raise ModelFileError(f"malformed skanomaly model file: unexpected value {value!r:.80}")


# ----------------------------------------------------------------------
# The manifest's JSON, within the limits.
# ----------------------------------------------------------------------
def json_items(raw: bytes) -> int:
    """An upper bound on the number of values in JSON text, without parsing it.

    Every value but the first follows a comma or opens a container; commas
    and brackets inside strings are counted too (cheap, and only ever more).
    """
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def json_depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most ``MAX_JSON_DEPTH`` deep.

    Iterative, and holding one iterator per level: memory does not grow
    with the number of values.
    """
    stack = [iter((value,))]
    while stack:
        item = next(stack[-1], stack)  # the stack itself marks the end: never a value
        if item is stack:
            stack.pop()
        elif len(stack) > _limits.MAX_JSON_DEPTH + 1:  # item is len(stack) - 1 levels deep
            return False
        elif isinstance(item, dict):
            stack.append(iter(item.values()))
        elif isinstance(item, list):
            stack.append(iter(item))
    return True


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ModelFileError(f"malformed skanomaly model file: number {text[:40]} overflows")
    return value


def _refuse_constant(name: str):
    raise ModelFileError(f"malformed skanomaly model file: {name} is not a JSON number")


def parse_manifest(raw: bytes) -> Any:
    """The manifest's strict JSON: bounded in values and depth, every number finite."""
    if json_items(raw) > _limits.MAX_JSON_ITEMS:
        raise ModelFileError(
            f"skanomaly model file refused: {MANIFEST} holds more than "
            f"{_limits.MAX_JSON_ITEMS:,} values"
        )
    too_deep = ModelFileError(f"malformed skanomaly model file: {MANIFEST} nests too deeply")
    try:
        # NaN / Infinity tokens and numbers that overflow to inf are refused.
        value = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise too_deep from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"not a skanomaly model file: unreadable {MANIFEST} ({exc})"
        ) from None
    if not json_depth_ok(value):
        raise too_deep
    return value


# ----------------------------------------------------------------------
# arrays.npz.
# ----------------------------------------------------------------------
def read_arrays(data: bytes, cap: int) -> dict[str, np.ndarray]:
    """The arrays of ``arrays.npz``: its zip layer and each ``.npy`` header checked first."""
    try:
        with checked_zip(io.BytesIO(data), arrays_layout(cap)) as npz:
            arrays = {}
            for info in npz.infolist():
                with npz.open(info) as stream:
                    arrays[info.filename.removesuffix(".npy")] = _read_npy(stream.read(cap + 1))
    except ModelFileError:
        raise
    except (NotAZip, ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        message = " ".join(str(exc).split())[:200] or "not a zip archive"
        raise ModelFileError(
            f"corrupted skanomaly model file: unreadable {ARRAYS} ({message})"
        ) from None
    return arrays


def _read_npy(raw: bytes) -> np.ndarray:
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        raise ValueError(f"npy format version {version} is not supported")
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(f"arrays of dtype {dtype} are not stored by skanomaly.save")
    # The header's shape must be what the bytes hold: no allocation from a lie.
    if math.prod(shape) * dtype.itemsize != len(raw) - stream.tell():
        raise ValueError(f"an array of shape {shape} does not match its data")
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False)
