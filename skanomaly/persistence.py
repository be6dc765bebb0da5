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
them.  Anything unexpected (not a zip, a zip layer holding other members or
compression methods than these, a missing or malformed manifest, an unknown
class or parameter, a digest that does not match, a weights file that would
need to unpickle code, a tensor that is not exactly what the networks hold)
raises :class:`~skanomaly.exceptions.ModelFileError`, a ``ValueError``,
before any of it is used.  What ``load`` allocates and computes is bounded
by constants of this module, whatever the file says (docs/persistence.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import keyword
import math
import os
import re
import struct
import tempfile
import warnings
import zipfile
import zlib
from typing import Any

import numpy as np
import torch

from . import _limits
from ._base import BaseGANDetector
from ._inputs import _INPUT_LIMIT
from ._runtime import _cpu_state_dict, available_device, library_versions, resolve_device
from ._version import __version__
from .exceptions import ModelFileError, VersionMismatchWarning

__all__ = ["FORMAT_VERSION", "load", "read_metadata", "save"]

FORMAT_NAME = "skanomaly-model"
FORMAT_VERSION = 1
_MANIFEST, _ARRAYS, _WEIGHTS = "manifest.json", "arrays.npz", "weights.pt"
# A manifest holds parameters and small attributes; anything larger is not ours.
_MAX_MANIFEST_BYTES = 16 * 2**20
_FITTED_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*_$")
# Where a pickled detector records the library versions that wrote it.
_PICKLE_VERSIONS = "_skanomaly_versions"


def _skanomaly_version() -> str:
    return __version__


def _versions() -> dict[str, str]:
    return library_versions()


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
        # Strict JSON has no NaN / Infinity: tag them, so a load can refuse
        # them where a finite number is required.
        return float(value) if math.isfinite(value) else {"float": str(float(value))}
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
    # load refuses manifests nested deeper than _MAX_JSON_DEPTH; leave room
    # for the manifest's own levels.
    if not _json_depth_ok({"a": {"b": {"c": {"d": metadata}}}}):
        raise TypeError(f"metadata nests more than {_MAX_JSON_DEPTH - 4} levels deep")
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
    state = {name: _cpu_state_dict(module) for name, module in networks.items()}
    torch.save(state, buffer)
    members[_WEIGHTS] = buffer.getvalue()
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    text = json.dumps(manifest, indent=1, allow_nan=False).encode()
    # load refuses larger manifests: do not write a file it cannot read.
    if len(text) > _MAX_MANIFEST_BYTES or _json_items(text) > _MAX_JSON_ITEMS:
        raise ValueError(
            f"the model's manifest would take {len(text):,} bytes and {_json_items(text):,} "
            f"values, more than skanomaly.load reads ({_MAX_MANIFEST_BYTES:,} bytes, "
            f"{_MAX_JSON_ITEMS:,} values): store less metadata"
        )
    _write_zip_atomically(path, {_MANIFEST: text, **members})


def _deflate_pays(data: bytes) -> bool:
    """Whether deflating ``data`` saves at least a tenth, judged on a sample.

    Float weights barely compress, and deflating a large model takes
    seconds: store them as they are unless a quick trial says otherwise.
    """
    sample = data[: 2**20]
    return len(zlib.compress(sample, 1)) < 0.9 * len(sample)


def _write_zip(handle, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(handle, "w") as archive:
        for name, data in members.items():
            deflate = name != _WEIGHTS or _deflate_pays(data)
            archive.writestr(
                name,
                data,
                compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
                compresslevel=1 if name == _WEIGHTS else None,
            )


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` sets it: a race)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return 0o022


def _write_zip_atomically(path: str | os.PathLike, members: dict[str, bytes]) -> None:
    """Write the archive to a temporary file beside ``path``, then rename it.

    ``os.replace`` is atomic: whoever reads ``path`` sees the old file or the
    complete new one, never a partial one, whatever happens during the
    write (a kill, a full disk, another process saving to the same path:
    the last rename wins, and every file it can leave is whole).
    """
    if hasattr(path, "write"):  # an open binary file: the caller owns it
        _write_zip(path, members)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=folder
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_zip(handle, members)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the usual permissions.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    # Make the rename itself durable (POSIX); not possible everywhere.
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ----------------------------------------------------------------------
# Reading, with every size checked before it is allocated.
# ----------------------------------------------------------------------
# Largest accepted sizes in a model file (documented in docs/persistence.md);
# the network total is the real bound, these keep each number sane first.
_MAX_FEATURES = 2**24
_MAX_CHANNELS = 256
_MAX_WIDTH = 2**16  # hidden_dims entries
_MAX_LATENT = 8192
_MAX_HIDDEN_LAYERS = 16
_MAX_ESTIMATORS = 64  # networks of a tabular ensemble
_MAX_FILTERS = 4096
_MAX_BATCH_SIZE = 2**16
_MAX_START_CODES = 1024
_MAX_JSON_DEPTH = 32
# Values in a manifest (bounded by counting its commas and brackets): a
# parsed JSON value costs up to about 70 bytes, so 2**20 of them stay near
# 70 MiB whatever the manifest holds.
_MAX_JSON_ITEMS = 2**20
# Bytes allowed beyond the values themselves: zip/pickle/npy framing.
_FRAMING_BYTES = 2**20
_FRAMING_BYTES_PER_TENSOR = 4096
# Members of arrays.npz: one per stored array.
_MAX_ARRAYS = 1024
# The finiteness check of the weights reads this many values at a time.
_FINITE_CHUNK = 2**20
# The load-time scoring check: AnoGAN's latent search from one start code,
# for at most this many steps (whatever latent_steps the file asks for).
_PROBE_SEARCH_STEPS = 5
# Stored training scores are float32 network outputs: beyond this they are
# not scores (and their quantiles would overflow to infinity).
_MAX_STORED_SCORE = float(np.finfo(np.float32).max)
# The metadata format of ``skanomaly train``'s model files, whose training
# scores ``skanomaly score`` takes quantiles of.
_COMMAND_FORMAT = "skanomaly-image-model"


def _read_capped(archive: zipfile.ZipFile, member: str, cap: int, digest: str | None) -> bytes:
    """A member's bytes, refused if it would decompress to more than ``cap`` bytes."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ModelFileError(f"not a skanomaly model file: {member} is missing") from None
    # Checked before anything is decompressed; the read is capped as well,
    # in case the declared size lies.
    if info.file_size > cap:
        raise ModelFileError(
            f"skanomaly model file refused: {member} would take {info.file_size:,} bytes, "
            f"more than the {cap:,} its manifest allows"
        )
    with archive.open(info) as stream:
        data = stream.read(cap + 1)
    if len(data) > cap:
        raise ModelFileError(f"skanomaly model file refused: {member} is larger than it declares")
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise ModelFileError(f"corrupted skanomaly model file: {member} does not match its digest")
    return data


# ----------------------------------------------------------------------
# Zip archives.  A model file is three zip layers: the file itself,
# arrays.npz (numpy's) and weights.pt (torch's).  Each may hold only what
# save writes there: named members, stored or deflated, a bounded number
# of them, checked from the end records before the directory is parsed and
# from the directory before anything is decompressed.
# ----------------------------------------------------------------------
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_DIRECTORY_ENTRY_BYTES = 46  # the fixed part of a central directory entry
# Room in the directory per entry for its name, extra fields and comment.
_ENTRY_TEXT_BYTES = 1024
# Deflate expands at most about 1,032-fold (a 258-byte match per two bits):
# a member that declares more is lying about its size.
_DEFLATE_MAX_RATIO = 1032
_DEFLATE_SLACK_BYTES = 1024
_METHOD_NAMES = {
    zipfile.ZIP_STORED: "STORED",
    zipfile.ZIP_DEFLATED: "DEFLATED",
    9: "DEFLATE64",
    zipfile.ZIP_BZIP2: "BZIP2",
    zipfile.ZIP_LZMA: "LZMA",
    93: "ZSTANDARD",
    95: "XZ",
    99: "AES",
}


@dataclasses.dataclass(frozen=True)
class _ZipLayout:
    """What one zip layer of a model file may hold."""

    what: str  # how messages name it
    prefix: str  # how messages start
    names: re.Pattern
    max_entries: int
    methods: frozenset
    max_bytes: int  # all members together, uncompressed


_MODEL_FILE = _ZipLayout(
    "its zip archive",
    "not a skanomaly model file",
    re.compile("|".join(map(re.escape, (_MANIFEST, _ARRAYS, _WEIGHTS)))),
    3,
    frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}),
    2**40,  # each member has its own cap (_read_capped)
)


def _arrays_layout(cap: int) -> _ZipLayout:
    # np.savez writes array_<i>.npy members, stored (np.savez_compressed: deflated).
    return _ZipLayout(
        _ARRAYS,
        "skanomaly model file refused",
        re.compile(r"array_\d{1,9}\.npy"),
        _MAX_ARRAYS,
        frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}),
        cap,
    )


def _weights_layout(cap: int, n_tensors: int) -> _ZipLayout:
    # torch.save to a buffer writes archive/data.pkl, one archive/data/<key>
    # record per storage, and a few small records, all stored uncompressed.
    return _ZipLayout(
        _WEIGHTS,
        "skanomaly model file refused",
        re.compile(r"archive/(data\.pkl|\.?[a-z_]{1,32}|\.data/[a-z_]{1,32}|data/\d{1,9})"),
        n_tensors + 8,
        frozenset({zipfile.ZIP_STORED}),
        cap,
    )


class _NotAZip(Exception):
    """The bytes do not end in a zip end record."""


def _refuse(layout: _ZipLayout, why: str) -> ModelFileError:
    return ModelFileError(f"{layout.prefix}: {layout.what} {why}")


def _end_records(handle, layout: _ZipLayout) -> tuple[int, int]:
    """The entry count and directory offset of a zip archive, from its end records alone.

    Read before ``zipfile`` parses the directory, whose entries cost memory
    in proportion to their number: an archive whose end records announce
    more entries than ``layout`` allows, or a directory larger than those
    entries need, is refused after reading at most 98 bytes.  Only the
    canonical layout is accepted (the end record last, without a comment;
    ZIP64 records, which torch always writes, right before it; the
    directory right before those), so that Python's ``zipfile`` and torch's
    reader, which look for these records differently, see the same archive.
    """
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    if size < _EOCD.size:
        raise _NotAZip
    handle.seek(size - _EOCD.size)
    record = _EOCD.unpack(handle.read(_EOCD.size))
    if record[0] != b"PK\x05\x06" or record[-1]:  # a signature, and no comment
        raise _NotAZip
    disk, directory_disk, disk_entries, entries, directory_size, directory_offset = record[1:7]
    end = size - _EOCD.size
    if end >= _ZIP64_LOCATOR.size:
        handle.seek(end - _ZIP64_LOCATOR.size)
        locator = handle.read(_ZIP64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            _, record_disk, record_offset, n_disks = _ZIP64_LOCATOR.unpack(locator)
            start = end - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
            if start < 0 or record_disk != 0 or n_disks != 1 or record_offset != start:
                raise _refuse(layout, "has its ZIP64 end record out of place")
            handle.seek(start)
            record = _ZIP64_EOCD.unpack(handle.read(_ZIP64_EOCD.size))
            if record[0] != b"PK\x06\x06" or record[1] != _ZIP64_EOCD.size - 12:
                raise _refuse(layout, "has a damaged ZIP64 end record")
            disk, directory_disk, disk_entries, entries, directory_size, directory_offset = record[
                4:10
            ]
            end = start
    if disk or directory_disk or disk_entries != entries:
        raise _refuse(layout, "spans several disks")
    if entries > layout.max_entries:
        raise _refuse(
            layout, f"has {entries:,} entries; it may have at most {layout.max_entries:,}"
        )
    if directory_size > entries * (_DIRECTORY_ENTRY_BYTES + _ENTRY_TEXT_BYTES):
        raise _refuse(layout, f"has a directory of {directory_size:,} bytes for {entries} entries")
    if directory_offset + directory_size != end:
        raise _refuse(layout, "has its directory out of place (data before or after it)")
    return entries, directory_offset


def _checked_zip(handle, layout: _ZipLayout) -> zipfile.ZipFile:
    """``zipfile.ZipFile(handle)``, opened only if it holds what ``layout`` allows.

    The end records are checked before the directory is parsed, the
    directory before any member is read: entry count, names, compression
    methods (only stored and deflated: ``zipfile`` reads other methods
    without bounding what one read call inflates to), sizes, and members
    that do not overlap one another or the directory.
    """
    entries, directory_offset = _end_records(handle, layout)
    archive = zipfile.ZipFile(handle)
    try:
        _check_entries(archive, handle, layout, entries, directory_offset)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_entries(archive, handle, layout: _ZipLayout, entries: int, end: int) -> None:
    infos = archive.infolist()
    if len(infos) != entries:
        raise _refuse(layout, "has a directory that does not match its end record")
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise _refuse(layout, "has duplicate members")
    unexpected = [name for name in names if not layout.names.fullmatch(name)]
    if unexpected:
        raise _refuse(layout, f"has unexpected members {unexpected[:3]!r:.80}")
    methods = " and ".join(sorted(_METHOD_NAMES[m] for m in layout.methods))
    total = 0
    for info in infos:
        name = f"{info.filename!r:.60}"
        if info.flag_bits & 0x1:
            raise _refuse(layout, f"has an encrypted member {name}")
        if info.compress_type not in layout.methods:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise _refuse(
                layout, f"has member {name} compressed with {method}; it may hold {methods} only"
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.file_size != info.compress_size) or info.file_size > (
            _DEFLATE_MAX_RATIO * info.compress_size + _DEFLATE_SLACK_BYTES
        ):
            raise _refuse(layout, f"has member {name} whose sizes are impossible")
        total += info.file_size
    if total > layout.max_bytes:
        raise _refuse(
            layout, f"would unpack to {total:,} bytes, more than the {layout.max_bytes:,} allowed"
        )
    # Each member's data lies between its header and the next header (or the
    # directory): no byte serves two members, no member hides in the directory.
    for info in sorted(infos, key=lambda i: i.header_offset, reverse=True):
        handle.seek(info.header_offset)
        header = handle.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise _refuse(layout, f"has a damaged header for member {info.filename!r:.60}")
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
        data_end = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        if data_end + info.compress_size > end:
            raise _refuse(layout, f"has overlapping members at {info.filename!r:.60}")
        end = info.header_offset


# ----------------------------------------------------------------------
# The manifest.
# ----------------------------------------------------------------------
def _json_items(raw: bytes) -> int:
    """An upper bound on the number of values in JSON text, without parsing it.

    Every value but the first follows a comma or opens a container; commas
    and brackets inside strings are counted too (cheap, and only ever more).
    """
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ModelFileError(f"malformed skanomaly model file: number {text[:40]} overflows")
    return value


def _refuse_constant(name: str):
    raise ModelFileError(f"malformed skanomaly model file: {name} is not a JSON number")


def _json_depth_ok(value: Any) -> bool:
    """Whether ``value`` nests at most ``_MAX_JSON_DEPTH`` deep.

    Iterative, and holding one iterator per level: memory does not grow
    with the number of values.
    """
    stack = [iter((value,))]
    while stack:
        item = next(stack[-1], stack)  # the stack itself marks the end: never a value
        if item is stack:
            stack.pop()
        elif len(stack) > _MAX_JSON_DEPTH + 1:  # item is len(stack) - 1 levels deep
            return False
        elif isinstance(item, dict):
            stack.append(iter(item.values()))
        elif isinstance(item, list):
            stack.append(iter(item))
    return True


def _read_manifest(archive: zipfile.ZipFile) -> dict:
    raw = _read_capped(archive, _MANIFEST, _MAX_MANIFEST_BYTES, None)
    if _json_items(raw) > _MAX_JSON_ITEMS:
        raise ModelFileError(
            f"skanomaly model file refused: {_MANIFEST} holds more than {_MAX_JSON_ITEMS:,} values"
        )
    try:
        # NaN / Infinity tokens and numbers that overflow to inf are refused.
        manifest = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise ModelFileError(
            f"malformed skanomaly model file: {_MANIFEST} nests too deeply"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"not a skanomaly model file: unreadable {_MANIFEST} ({exc})"
        ) from None
    if not _json_depth_ok(manifest):
        raise ModelFileError(f"malformed skanomaly model file: {_MANIFEST} nests too deeply")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"not a skanomaly model file: {_MANIFEST} is not a skanomaly manifest"
        )
    version = manifest.get("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"unsupported skanomaly model format version {version!r:.20}; this skanomaly "
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
            raise ModelFileError(f"malformed skanomaly model file: {key!r} is missing or invalid")
    if not all(isinstance(n, str) for n in manifest["networks"]):
        raise ModelFileError("malformed skanomaly model file: 'networks' is not a list of names")
    return manifest


def _warn_on_version_mismatch(
    written: Any, what: str = "skanomaly model file", stacklevel: int = 4
) -> None:
    """Warn when ``written`` (library -> version) differs from this installation's.

    ``None`` (or anything but a dict) means the writer recorded no versions:
    a skanomaly from before versions were recorded.
    """
    here = _versions()
    if not isinstance(written, dict):
        warnings.warn(
            f"this {what} records no library versions: it was written by an older "
            f"skanomaly than {here['skanomaly']}; it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=4,
        )
        return
    # Compare releases only: "2.4.0+cu121" and "2.4.0+cpu" are the same torch.
    differ = [
        f"{name} {str(written.get(name))[:40]!r} (here {version!r})"
        for name, version in here.items()
        if str(written.get(name)).split("+")[0] != version.split("+")[0]
    ]
    if differ:
        warnings.warn(
            f"this {what} was written with " + ", ".join(differ) + "; "
            "it may load or score differently.",
            VersionMismatchWarning,
            stacklevel=stacklevel,
        )


def _open_archive(handle, path) -> zipfile.ZipFile:
    try:
        archive = _checked_zip(handle, _MODEL_FILE)
    except (_NotAZip, zipfile.BadZipFile, EOFError):
        handle.seek(0)
        head = handle.read(2)
        if head[:1] == b"\x80" or head in (b"x\x9c", b"x\xda", b"ZF"):
            hint = (
                "it looks like a pickle, e.g. from joblib.dump, which is read with "
                "joblib.load, from trusted sources only"
            )
        else:
            hint = "the file is damaged (e.g. cut short) or is some other file"
        raise ModelFileError(
            f"{str(path)!r} is not a skanomaly model file (not a zip archive): {hint}"
        ) from None
    if _MANIFEST not in archive.namelist():
        archive.close()
        raise ModelFileError(f"not a skanomaly model file: no {_MANIFEST}")
    return archive


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


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``metadata`` stored by :func:`save` (``{}`` when none was given).

    Only the file's JSON manifest is read; nothing is unpickled.  The
    metadata that ``skanomaly train`` writes is checked as well: its
    training scores must be finite numbers.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    metadata : dict

    Raises
    ------
    ModelFileError
        If the file is not a skanomaly model file (a ``ValueError``).

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


def _read_metadata(handle, path) -> dict:
    with _open_archive(handle, path) as archive:
        metadata = _read_manifest(archive).get("metadata", {})
    if not isinstance(metadata, dict):
        raise ModelFileError("malformed skanomaly model file: 'metadata' is not a dict")
    _check_command_metadata(metadata)
    return metadata


def _check_command_metadata(metadata: dict) -> None:
    """The training scores of a ``skanomaly train`` file: a non-empty list of finite scores.

    ``skanomaly score`` takes quantiles of them for its thresholds; anything
    else would end in a traceback or an infinite threshold.
    """
    if metadata.get("format") != _COMMAND_FORMAT or "training_anomaly_scores" not in metadata:
        return
    scores = metadata["training_anomaly_scores"]
    if (
        not isinstance(scores, list)
        or not scores
        or not all(type(v) in (int, float) and abs(v) <= _MAX_STORED_SCORE for v in scores)
    ):
        raise ModelFileError(
            "malformed skanomaly model file: its training_anomaly_scores are not a non-empty "
            "list of finite anomaly scores"
        )


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
    return _guarded(_load, path, device)


def _load(handle, path, device: str | None) -> BaseGANDetector:
    with _open_archive(handle, path) as archive:
        manifest = _read_manifest(archive)
        digests = manifest["sha256"]
        cls = _detector_classes().get(manifest["class"])
        if cls is None:
            raise ModelFileError(
                f"unknown detector class {manifest['class']!r:.80} in the model file; "
                f"skanomaly.load reads {', '.join(sorted(_detector_classes()))}."
            )
        names = cls._get_param_names()
        unknown = sorted(set(manifest["params"]) - set(names))
        if unknown:
            raise ModelFileError(
                f"unknown parameters for {cls.__name__} in the model file: {unknown!r:.200}"
            )
        raw_fitted = manifest["fitted"]
        for key in raw_fitted:
            if not _FITTED_NAME.match(key) or keyword.iskeyword(key) or key in names:
                raise ModelFileError(
                    f"malformed skanomaly model file: bad attribute name {key!r:.80}"
                )
        n_features, latent_dim = _plain_sizes(raw_fitted)
        array_cap = _FRAMING_BYTES + 8 * (4 * n_features + _MAX_START_CODES * latent_dim)
        arrays = _read_arrays(
            _read_capped(archive, _ARRAYS, array_cap, digests.get(_ARRAYS, "")), array_cap
        )
        estimator = _restore_attributes(cls, manifest, arrays)
        del arrays
        networks = manifest["networks"]
        specs = _network_specs(estimator, networks) if networks else {}
        weight_cap = _weight_cap(specs)
        weight_bytes = _read_capped(archive, _WEIGHTS, weight_cap, digests.get(_WEIGHTS, ""))
    _warn_on_version_mismatch(manifest["versions"])
    fitted = {k: v for k, v in vars(estimator).items() if k in raw_fitted}
    if networks:
        state = _read_state(weight_bytes, weight_cap, specs)
        del weight_bytes  # the tensors are copies: free the file's bytes before building
        _load_networks(estimator, state, device)
        del state
        # Building may draw fitted values too (e.g. AnoGAN's start codes):
        # the saved ones win.
        vars(estimator).update({k: v for k, v in fitted.items() if k != "device_"})
        if hasattr(estimator, "offset_"):
            _check_finite_scores(estimator)
    return estimator


def _plain_sizes(raw_fitted: dict) -> tuple[int, int]:
    """``n_features_in_`` and ``latent_dim_`` from the manifest, range-checked."""
    sizes = []
    for key, upper in (("n_features_in_", _MAX_FEATURES), ("latent_dim_", _MAX_LATENT)):
        value = raw_fitted.get(key, 0)
        if type(value) is not int or not 0 <= value <= upper:
            raise ModelFileError(
                f"skanomaly model file refused: {key} = {value!r:.40} is outside [1, {upper}]"
            )
        sizes.append(value)
    return sizes[0], sizes[1]


def _read_arrays(data: bytes, cap: int) -> dict[str, np.ndarray]:
    """The arrays of ``arrays.npz``: its zip layer and each ``.npy`` header checked first."""
    try:
        with _checked_zip(io.BytesIO(data), _arrays_layout(cap)) as npz:
            arrays = {}
            for info in npz.infolist():
                with npz.open(info) as stream:
                    arrays[info.filename.removesuffix(".npy")] = _read_npy(stream.read(cap + 1))
    except ModelFileError:
        raise
    except (_NotAZip, ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        message = " ".join(str(exc).split())[:200] or "not a zip archive"
        raise ModelFileError(
            f"corrupted skanomaly model file: unreadable {_ARRAYS} ({message})"
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


def _restore_attributes(cls, manifest: dict, arrays: dict) -> BaseGANDetector:
    """The unfitted-then-fitted estimator, every value checked; no networks yet."""
    estimator = cls(**{k: _decode(v, arrays) for k, v in manifest["params"].items()})
    estimator._validate_params()
    _check_params(estimator)
    fitted = {key: _decode(value, arrays) for key, value in manifest["fitted"].items()}
    _upgrade_single_network(estimator, fitted)
    _check_fitted(fitted)
    vars(estimator).update(fitted)
    return estimator


def _upgrade_single_network(estimator, fitted: dict) -> None:
    """Files saved before tabular ensembles (0.3) hold one plainly trained network.

    They have no ``n_estimators_``: they load as what they are, one network
    without robust training, and score exactly as when they were saved.
    """
    if "n_estimators_" in fitted or "offset_" not in fitted:
        return
    fitted.update(n_estimators_=1, trim_fraction_=0.0)
    estimator.set_params(n_estimators=1, robust_training=False)
    if "anomaly_score" in estimator.get_params() and "anomaly_score_" not in fitted:
        fitted["anomaly_score_"] = estimator.anomaly_score


def _check_params(estimator) -> None:
    """Bounds beyond the constructor's: what an untrusted file may ask for."""
    params = estimator.get_params(deep=False)
    for name, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ModelFileError(f"malformed skanomaly model file: parameter {name} = {value}")
    limits = {
        "latent_steps": _limits.MAX_SEARCH_STEPS,
        "n_filters": _MAX_FILTERS,
        "latent_dim": _MAX_LATENT,
        "batch_size": _MAX_BATCH_SIZE,
    }
    for name, upper in limits.items():
        value = params.get(name)
        if isinstance(value, int) and value > upper:
            raise ModelFileError(
                f"skanomaly model file refused: {name} = {value} exceeds the limit {upper} "
                "for loaded models"
            )


def _check_fitted(fitted: dict) -> None:
    """Types, ranges, shapes and finiteness of the fitted attributes."""

    def refuse(key, why):
        raise ModelFileError(f"malformed skanomaly model file: {key} {why}")

    n = fitted.get("n_features_in_")
    if n is not None and (type(n) is not int or not 1 <= n <= _MAX_FEATURES):
        refuse("n_features_in_", f"= {n!r:.40} is out of range")
    shape = fitted.get("image_shape_")
    if shape is not None:
        if (
            not isinstance(shape, tuple)
            or len(shape) != 3
            or not all(type(s) is int for s in shape)
            or not 1 <= shape[0] <= _MAX_CHANNELS
            or min(shape[1:]) < 8
        ):
            refuse("image_shape_", f"= {shape!r:.60} is not (C, H, W) with C <= 256, H, W >= 8")
        side = 2 ** math.ceil(math.log2(max(shape[1:])))
        if side > _limits.MAX_IMAGE_SIDE:
            raise ModelFileError(
                f"skanomaly model file refused: images of {shape[1]}x{shape[2]} pixels exceed "
                f"the limit of {_limits.MAX_IMAGE_SIDE} for loaded models"
            )
        if n is not None and math.prod(shape) != n:
            refuse("image_shape_", f"{shape} does not match n_features_in_ = {n}")
    hidden = fitted.get("hidden_dims_")
    if hidden is not None and (
        not isinstance(hidden, tuple)
        or not 1 <= len(hidden) <= _MAX_HIDDEN_LAYERS
        or not all(type(h) is int and 1 <= h <= _MAX_WIDTH for h in hidden)
    ):
        refuse("hidden_dims_", f"= {hidden!r:.60} is out of range")
    latent = fitted.get("latent_dim_")
    if latent is not None and (type(latent) is not int or not 1 <= latent <= _MAX_LATENT):
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
    members = fitted.get("n_estimators_")
    if members is not None and (type(members) is not int or not 1 <= members <= _MAX_ESTIMATORS):
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
    score = fitted.get("anomaly_score_")
    if score is not None and score not in ("latent", "reconstruction", "combined"):
        refuse("anomaly_score_", f"= {score!r:.40} is not a GANomaly score")
    scores = fitted.get("decision_scores_")
    if scores is not None and (
        not isinstance(scores, np.ndarray)
        or scores.ndim != 1
        or not len(scores)
        or scores.dtype.kind != "f"
    ):
        refuse("decision_scores_", "is not a non-empty array of anomaly scores")
    if "latent_candidates_" in fitted:
        value = fitted["latent_candidates_"]
        if (
            not isinstance(value, np.ndarray)
            or value.ndim != 2
            or not 1 <= len(value) <= _MAX_START_CODES
            or value.shape[1] != latent
        ):
            refuse("latent_candidates_", f"is not ({_MAX_START_CODES} at most, latent_dim_)")
    names = fitted.get("feature_names_in_")
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (n,)):
        refuse("feature_names_in_", f"is not {n} names")
    for key, value in fitted.items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                refuse(key, "holds NaN or infinite values")


def _network_specs(estimator, names: list) -> dict:
    """The networks the file asks for, worked out without building them; within the limit."""
    try:
        specs = _limits.network_specs(estimator)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"malformed skanomaly model file: cannot size the networks ({exc})"
        ) from None
    if sorted(specs) != sorted(names):
        raise ModelFileError(
            f"malformed skanomaly model file: networks {sorted(names)!r:.80}, "
            f"but {type(estimator).__name__} has {sorted(specs)}"
        )
    values = sum(math.prod(shape) for spec in specs.values() for shape, _ in spec.values())
    if values > _limits.MAX_NETWORK_VALUES:
        raise ModelFileError(
            f"skanomaly model file refused: its networks would hold {values:,} values, more "
            f"than the limit of {_limits.MAX_NETWORK_VALUES:,} for loaded models"
        )
    return specs


def _weight_cap(specs: dict) -> int:
    """Bytes ``weights.pt`` may unpack to: the networks' values plus framing."""
    tensors = [(shape, dtype) for spec in specs.values() for shape, dtype in spec.values()]
    if not tensors:
        return _FRAMING_BYTES
    n_bytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in tensors)
    return _FRAMING_BYTES + n_bytes + _FRAMING_BYTES_PER_TENSOR * (len(tensors) + 64)


def _read_state(weight_bytes: bytes, cap: int, specs: dict) -> dict:
    """The networks' state dicts: exactly the tensors ``specs`` describe, finite, or refused.

    Every tensor's type, dtype, shape, strides and storage are checked
    before any operation reads its values: a tensor whose strides repeat
    values (e.g. ``expand``-ed: a huge shape over one stored number) or
    whose storage holds more than its values is refused, so nothing here
    allocates more than the file's own bytes.
    """
    n_tensors = sum(len(spec) for spec in specs.values())
    # torch's format is itself a zip: its records are bounded like ours.
    try:
        _checked_zip(io.BytesIO(weight_bytes), _weights_layout(cap, n_tensors)).close()
    except (_NotAZip, zipfile.BadZipFile, EOFError):
        raise ModelFileError(
            f"corrupted skanomaly model file: {_WEIGHTS} is not a torch archive"
        ) from None
    try:
        state = torch.load(io.BytesIO(weight_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, ...
        raise ModelFileError(
            f"unsafe or corrupted skanomaly model file: {_WEIGHTS} holds more than "
            f"plain weights, or is damaged ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    if not isinstance(state, dict) or sorted(state) != sorted(specs):
        raise ModelFileError(
            f"malformed skanomaly model file: {_WEIGHTS} does not match the manifest"
        )
    for name, tensors in state.items():
        if not isinstance(tensors, dict) or set(tensors) != set(specs[name]):
            raise ModelFileError(
                f"malformed skanomaly model file: {name} in {_WEIGHTS} is not the state_dict "
                "of the networks the manifest describes"
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
    return state


def _check_tensor(tensor, shape: tuple, dtype: torch.dtype, where: str) -> None:
    """A plain dense CPU tensor of ``shape`` and ``dtype`` over its own storage; metadata only."""

    def refuse(why):
        raise ModelFileError(f"malformed skanomaly model file: weights {where:.80} {why}")

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
    """Whether every value is finite, looking at ``_FINITE_CHUNK`` values at a time."""
    flat = tensor.as_strided((tensor.numel(),), (1,))  # dense, from offset 0: checked
    return all(
        bool(torch.isfinite(flat[start : start + _FINITE_CHUNK]).all())
        for start in range(0, flat.numel(), _FINITE_CHUNK)
    )


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


def _check_finite_scores(estimator) -> None:
    """Refuse a model that cannot score: e.g. broken normalisation statistics.

    A fixed amount of work, whatever the file says: four rows, scored one
    at a time (the centre of the training data; every feature at the
    largest scaled value, which all larger inputs saturate to; at the
    smallest; alternating), on a copy whose search (AnoGAN's) starts from
    one code and runs at most ``_PROBE_SEARCH_STEPS`` steps.  The
    extreme rows are where large weights overflow first; every model
    ``fit`` makes scores them finitely.
    """
    probe = estimator._probe(_PROBE_SEARCH_STEPS)
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
