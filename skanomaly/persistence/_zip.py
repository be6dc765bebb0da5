"""The zip layers of a model file: what each may hold, read with every size capped.

A model file is three zip layers: the file itself, ``arrays.npz`` (numpy's)
and ``weights.pt`` (torch's).  Each may hold only what ``save`` writes
there: named members, stored or deflated, a bounded number of them,
checked from the end records before the directory is parsed and from the
directory before anything is decompressed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import struct
import zipfile
import zlib

from .. import _limits
from ..exceptions import ModelFileError

__all__ = [
    "ARRAYS",
    "MANIFEST",
    "WEIGHTS",
    "NotAZip",
    "ZipLayout",
    "arrays_layout",
    "checked_zip",
    "deflate_pays",
    "open_model_file",
    "read_capped",
    "weights_layout",
    "write_zip",
]

# The members of a model file.
MANIFEST, ARRAYS, WEIGHTS = "manifest.json", "arrays.npz", "weights.pt"

# Facts of the zip format.
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


# ----------------------------------------------------------------------
# Writing.
# ----------------------------------------------------------------------
def deflate_pays(data: bytes) -> bool:
    """Whether deflating ``data`` saves at least a tenth, judged on a sample.

    Float weights barely compress, and deflating a large model takes
    seconds: store them as they are unless a quick trial says otherwise.
    """
    sample = data[: 2**20]
    return len(zlib.compress(sample, 1)) < 0.9 * len(sample)


def write_zip(handle, members: dict[str, bytes]) -> None:
    """Write ``members`` (name -> bytes) as a zip archive to the binary file ``handle``."""
    with zipfile.ZipFile(handle, "w") as archive:
        for name, data in members.items():
            deflate = name != WEIGHTS or deflate_pays(data)
            archive.writestr(
                name,
                data,
                compress_type=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED,
                compresslevel=1 if name == WEIGHTS else None,
            )


# ----------------------------------------------------------------------
# What each layer may hold.
# ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ZipLayout:
    """What one zip layer of a model file may hold."""

    what: str  # how messages name it
    prefix: str  # how messages start
    names: re.Pattern
    max_entries: int
    methods: frozenset
    max_bytes: int  # all members together, uncompressed


_MODEL_FILE = ZipLayout(
    "its zip archive",
    "not a skanomaly model file",
    re.compile("|".join(map(re.escape, (MANIFEST, ARRAYS, WEIGHTS)))),
    3,
    frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}),
    2**40,  # each member has its own cap (read_capped)
)


def arrays_layout(cap: int) -> ZipLayout:
    """``arrays.npz``, unpacking to at most ``cap`` bytes."""
    # np.savez writes array_<i>.npy members, stored (np.savez_compressed: deflated).
    return ZipLayout(
        ARRAYS,
        "skanomaly model file refused",
        re.compile(r"array_\d{1,9}\.npy"),
        _limits.MAX_ARRAYS,
        frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}),
        cap,
    )


def weights_layout(cap: int, n_tensors: int) -> ZipLayout:
    """``weights.pt`` of ``n_tensors`` tensors, unpacking to at most ``cap`` bytes."""
    # torch.save to a buffer writes archive/data.pkl, one archive/data/<key>
    # record per storage, and a few small records, all stored uncompressed.
    return ZipLayout(
        WEIGHTS,
        "skanomaly model file refused",
        re.compile(r"archive/(data\.pkl|\.?[a-z_]{1,32}|\.data/[a-z_]{1,32}|data/\d{1,9})"),
        n_tensors + 8,
        frozenset({zipfile.ZIP_STORED}),
        cap,
    )


class NotAZip(Exception):
    """The bytes do not end in a zip end record."""


def _refuse(layout: ZipLayout, why: str) -> ModelFileError:
    return ModelFileError(f"{layout.prefix}: {layout.what} {why}")


# ----------------------------------------------------------------------
# Reading.
# ----------------------------------------------------------------------
def _end_records(handle, layout: ZipLayout) -> tuple[int, int]:
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
        raise NotAZip
    handle.seek(size - _EOCD.size)
    record = _EOCD.unpack(handle.read(_EOCD.size))
    if record[0] != b"PK\x05\x06" or record[-1]:  # a signature, and no comment
        raise NotAZip
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


def checked_zip(handle, layout: ZipLayout) -> zipfile.ZipFile:
    """``zipfile.ZipFile(handle)``, opened only if it holds what ``layout`` allows.

    The end records are checked before the directory is parsed, the
    directory before any member is read: entry count, names, compression
    methods (only stored and deflated: ``zipfile`` reads other methods
    without bounding what one read call inflates to), sizes, and members
    that do not overlap one another or the directory.

    Raises
    ------
    NotAZip
        If ``handle`` does not end in a zip end record.
    ModelFileError
        If the archive holds anything ``layout`` does not allow.
    """
    entries, directory_offset = _end_records(handle, layout)
    archive = zipfile.ZipFile(handle)
    try:
        _check_entries(archive, handle, layout, entries, directory_offset)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_entries(archive, handle, layout: ZipLayout, entries: int, end: int) -> None:
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


def open_model_file(handle, path) -> zipfile.ZipFile:
    """The checked outer zip layer of the model file open as ``handle``, with a manifest.

    A file that is no zip archive is refused with a hint at what it may
    be: a pickle (e.g. from ``joblib.dump``) or a damaged file.
    """
    try:
        archive = checked_zip(handle, _MODEL_FILE)
    except (NotAZip, zipfile.BadZipFile, EOFError):
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
    if MANIFEST not in archive.namelist():
        archive.close()
        raise ModelFileError(f"not a skanomaly model file: no {MANIFEST}")
    return archive


def read_capped(archive: zipfile.ZipFile, member: str, cap: int, digest: str | None) -> bytes:
    """A member's bytes, refused if it would decompress to more than ``cap`` bytes.

    ``digest``, when given, is the SHA-256 the bytes must have.
    """
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
