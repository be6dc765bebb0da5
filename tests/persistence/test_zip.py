"""The zip layers: only the members ``save`` writes, every size checked before reading.

Compression methods whose reads ``zipfile`` does not bound, bombs, sizes
that lie, overlapping members and huge directories are refused before
anything is decompressed; the child-process tests measure that this costs
no memory.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly import GANomalyDetector
from skanomaly.exceptions import ModelFileError

from ..conftest import deflate_pays, fast, networks, rewrite_model_file
from .conftest import (
    MIB,
    assert_refused_cheaply,
    bomb,
    declare_size,
    directory_entries,
    linux_only,
    load_in_child,
    many_entries,
    members_of,
    refused,
    write_members,
    write_model,
)


def test_weights_are_stored_when_deflate_buys_nothing(tmp_path):
    assert not deflate_pays(np.random.default_rng(0).bytes(2**16))
    assert deflate_pays(bytes(2**16))
    X = np.random.default_rng(0).normal(size=(40, 3))
    detector = fast(GANomalyDetector, hidden_dims=(512, 512), n_epochs=1).fit(X)
    for module in networks(detector).values():  # incompressible weights: random bits
        for tensor in module.state_dict().values():
            if tensor.dtype == torch.float32:
                bits = torch.randint(-(2**31), 2**31 - 1, tensor.shape, dtype=torch.int32)
                tensor.view(torch.int32).copy_(bits)
    skanomaly.save(detector, tmp_path / "m.skan")
    with zipfile.ZipFile(tmp_path / "m.skan") as archive:
        assert archive.getinfo("weights.pt").compress_type == zipfile.ZIP_STORED


@pytest.mark.parametrize("member", ["weights.pt", "arrays.npz"])
def test_zip_bomb_is_refused_before_decompressing(member, model_path):
    contents = members_of(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    contents[member] = bomb(64 * 2**20)
    path = write_model(
        model_path.with_name("bomb.skan"), manifest, contents, compress=zipfile.ZIP_DEFLATED
    )
    assert path.stat().st_size < 2**20
    refused(path, f"refused: {member} would take 67,108,864 bytes, more than")


def test_inner_bombs_are_refused(model_path):
    contents = members_of(model_path)
    manifest = json.loads(contents.pop("manifest.json"))

    def with_inner(name, member, inner, data, method=zipfile.ZIP_STORED):
        """The model file with ``member`` replaced by a zip of one member, ``inner``."""
        layer = write_members(io.BytesIO(), {inner: data}, {inner: method}).getvalue()
        bad = dict(contents, **{member: layer})
        return write_model(model_path.with_name(name), dict(manifest), bad)

    # arrays.npz whose own member decompresses past the cap.
    refused(
        with_inner("a.skan", "arrays.npz", "array_0.npy", bomb(32 * 2**20), zipfile.ZIP_DEFLATED),
        "arrays.npz would unpack to 33,554,432 bytes, more than",
    )
    # An npy header that claims more than its bytes hold.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    refused(
        with_inner("b.skan", "arrays.npz", "array_0.npy", header.getvalue() + bytes(64)),
        "does not match its data",
    )
    # weights.pt (itself a zip) whose record decompresses past the cap: torch
    # stores its records, so a deflated one is refused before it is read.
    refused(
        with_inner(
            "c.skan", "weights.pt", "archive/data/0", bomb(32 * 2**20), zipfile.ZIP_DEFLATED
        ),
        "weights.pt has member 'archive/data/0' compressed with DEFLATED; it may hold STORED only",
    )


def test_member_that_lies_about_its_size_is_refused(model_path):
    data = bytearray(model_path.read_bytes())
    with zipfile.ZipFile(model_path) as archive:
        info = archive.getinfo("weights.pt")
    # Patch the declared (uncompressed) size in both headers to 100 bytes.
    for offset in (info.header_offset + 22, data.rfind(b"weights.pt") - 46 + 24):
        data[offset : offset + 4] = (100).to_bytes(4, "little")
    path = model_path.with_name("liar.skan")
    path.write_bytes(bytes(data))
    refused(path, "skanomaly model file")


@linux_only
@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compressions_are_refused_before_reading(method, tabular_file, tmp_path):
    contents = members_of(tabular_file)
    bomb = bytes(64 * MIB)
    # The outer weights.pt, and a member inside arrays.npz, each a 64 MiB
    # bomb that declares 100 bytes, so that the size caps let it through
    # (+259 MiB for a 128 MiB one before).
    outer = tmp_path / "outer.skan"
    write_members(outer, dict(contents, **{"weights.pt": bomb}), {"weights.pt": method})
    outer.write_bytes(declare_size(outer.read_bytes(), "weights.pt", 100))
    npz = io.BytesIO()
    write_members(npz, {"array_0.npy": bomb}, {"array_0.npy": method})
    inner = rewrite_model_file(
        tabular_file,
        tmp_path / "inner.skan",
        members={"arrays.npz": declare_size(npz.getvalue(), "array_0.npy", 100)},
    )
    assert outer.stat().st_size < MIB and inner.stat().st_size < MIB
    name = {zipfile.ZIP_BZIP2: "BZIP2", zipfile.ZIP_LZMA: "LZMA"}[method]
    first, second = load_in_child(outer, inner)
    assert_refused_cheaply(
        first, f"its zip archive has member 'weights.pt' compressed with {name}"
    )
    assert_refused_cheaply(second, f"arrays.npz has member 'array_0.npy' compressed with {name}")


def test_only_the_members_save_writes(tabular_file, tmp_path):
    contents = members_of(tabular_file)
    cases = {
        "extra member": dict(contents, **{"notes.txt": b"hello"}),
        "renamed": {("weights.bin" if k == "weights.pt" else k): v for k, v in contents.items()},
    }
    for what, members in cases.items():
        path = write_members(tmp_path / "m.skan", members)
        with pytest.raises(ModelFileError, match="its zip archive has") as info:
            skanomaly.load(path)
        assert "\n" not in str(info.value), what
    # Encrypted members are refused by their flag, before any password is asked for.
    data = bytearray(tabular_file.read_bytes())
    entry = directory_entries(bytes(data))["arrays.npz"]
    (local,) = struct.unpack("<L", data[entry + 42 : entry + 46])
    data[local + 6] |= 1
    data[entry + 8] |= 1
    (tmp_path / "enc.skan").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="encrypted member 'arrays.npz'"):
        skanomaly.load(tmp_path / "enc.skan")


def test_members_that_share_their_bytes_are_refused(tabular_file, tmp_path):
    # Two directory entries reading the same bytes (the overlapping-member zip bomb).
    data = bytearray(tabular_file.read_bytes())
    entries = directory_entries(bytes(data))
    manifest = data[entries["manifest.json"] + 42 : entries["manifest.json"] + 46]
    data[entries["arrays.npz"] + 42 : entries["arrays.npz"] + 46] = manifest
    (tmp_path / "overlap.skan").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="its zip archive has overlapping members"):
        skanomaly.load(tmp_path / "overlap.skan")


@linux_only
@pytest.mark.parametrize("n_entries", [0xFFFF, 200_000])
def test_huge_directories_are_refused_from_the_end_record(n_entries, tmp_path):
    path = tmp_path / "entries.skan"
    path.write_bytes(many_entries(n_entries))
    with zipfile.ZipFile(path) as archive:  # a valid zip (ZIP64 beyond 65,535 entries)
        assert len(archive.infolist()) == n_entries
    (result,) = load_in_child(path)
    assert_refused_cheaply(
        result, f"its zip archive has {n_entries:,} entries; it may have at most 3"
    )


def test_zip64_end_records_are_checked_like_the_plain_one(tabular_file, tmp_path):
    data = tabular_file.read_bytes()
    end = data[-22:]
    entries, size, offset = struct.unpack("<2xH2L2x", end[8:])
    # The same archive with ZIP64 end records that announce 2**40 entries.
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 2**40, 2**40, size, offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(data) - 22, 1)
    path = tmp_path / "zip64.skan"
    path.write_bytes(data[:-22] + record + locator + end)
    with pytest.raises(ModelFileError, match="has 1,099,511,627,776 entries"):
        skanomaly.load(path)
    # Honest ZIP64 records load; misplaced ones (which zipfile and torch's
    # reader would each look for elsewhere) are refused.
    record = record.replace(struct.pack("<2Q", 2**40, 2**40), struct.pack("<2Q", entries, entries))
    path.write_bytes(data[:-22] + record + locator + end)
    skanomaly.load(path)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    path.write_bytes(data[:-22] + record + locator + end)
    with pytest.raises(ModelFileError, match="ZIP64 end record out of place"):
        skanomaly.load(path)
    # A comment or trailing bytes after the end record: not the layout save writes.
    path.write_bytes(data + b"trailing")
    with pytest.raises(ModelFileError, match="not a zip archive"):
        skanomaly.load(path)
