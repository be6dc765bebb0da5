"""Model files from anyone: crafted files are refused cheaply, and loading is bounded.

Each class of crafted file that used to make ``skanomaly.load`` allocate
gigabytes or run a file-sized computation has a test here; the files are
loaded in a child process under an address-space limit, whose peak memory
per file is measured (``VmHWM`` reset before each load), so a regression
fails the test instead of swapping the machine.  The last tests check the
documented memory bound and fuzz the loader with mutated files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly import AnoGANDetector, GANomalyDetector
from skanomaly.cli import main
from skanomaly.datasets import write_image_folder
from skanomaly.exceptions import ModelFileError
from skanomaly.persistence import read_metadata

from .conftest import fails_with_one_line, fast, rewrite_model_file, train_with_cli

REPO = Path(__file__).resolve().parents[1]
MIB = 2**20

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="measures memory through /proc (Linux)"
)

# Loads each file given on the command line (after the budget and a warm-up
# file), one after the other, and prints
# a JSON list of {"outcome": "loaded" or the error, "peak_mib", "seconds"}:
# the peak is the growth of the resident set during that load alone.
_MEASURE = textwrap.dedent(
    """
    import ctypes, gc, json, resource, sys, time
    import torch, skanomaly

    torch.set_num_threads(1)
    # The package imports its modules on first use: import them all now,
    # so that no measured load pays for an import.
    for name in skanomaly.__all__:
        getattr(skanomaly, name)
    import skanomaly.persistence, skanomaly.detectors  # noqa: E401

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024

    budget = int(sys.argv[1]) * 2**20
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (status("VmSize") + budget, hard))
    libc = ctypes.CDLL("libc.so.6")
    if sys.argv[2] != "-":
        skanomaly.load(sys.argv[2])  # first-use costs of torch's kernels, not measured
    results = []
    for path in sys.argv[3:]:
        gc.collect()
        libc.malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # resets VmHWM, the peak resident set
        before, start = status("VmRSS"), time.perf_counter()
        try:
            detector = skanomaly.load(path)
            outcome = "loaded"
        except ValueError as exc:
            outcome = str(exc)
        seconds = time.perf_counter() - start
        results.append(
            {"outcome": outcome, "peak_mib": (status("VmHWM") - before) / 2**20,
             "seconds": seconds}
        )
        detector = None
    print(json.dumps(results))
    """
)


def load_in_child(*paths, budget_mib=1024, warm_up=None):
    """Load ``paths`` in one fresh process limited to ``budget_mib`` more address space.

    ``warm_up``, a model file, is loaded first, unmeasured.
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # Large blocks straight from mmap and back: the resident set follows the
    # allocations, so each file's peak is its own.
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(budget_mib), str(warm_up or "-"), *map(str, paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def assert_refused_cheaply(result, match, peak_mib=16):
    """Refused for the stated reason (not for running out of memory), in little memory."""
    import re

    outcome = result["outcome"]
    assert re.search(match, outcome), outcome
    assert not re.search("MemoryError|allocate|out of memory", outcome), outcome
    assert "\n" not in outcome
    assert result["peak_mib"] < peak_mib, result


# ----------------------------------------------------------------------
# Building crafted files.
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tabular_file(tmp_path_factory, blobs):
    """A small tabular GANomaly model file."""
    path = tmp_path_factory.mktemp("model") / "model.skan"
    skanomaly.save(fast(GANomalyDetector, hidden_dims=(16, 8), latent_dim=3).fit(blobs[0]), path)
    return path


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def directory_entries(data: bytes) -> dict[str, int]:
    """Where each member's directory entry starts in zip ``data`` (no ZIP64), by name."""
    size, offset = struct.unpack("<2L", data[-10:-2])
    entries, position = {}, offset
    while position < offset + size:
        lengths = struct.unpack("<3H", data[position + 28 : position + 34])
        entries[data[position + 46 : position + 46 + lengths[0]].decode()] = position
        position += 46 + sum(lengths)
    return entries


def declare_size(data: bytes, name: str, size: int) -> bytes:
    """``data``, a zip, with member ``name``'s uncompressed size set to ``size`` (both headers)."""
    data = bytearray(data)
    entry = directory_entries(bytes(data))[name]
    (local,) = struct.unpack("<L", data[entry + 42 : entry + 46])
    data[local + 22 : local + 26] = data[entry + 24 : entry + 28] = struct.pack("<L", size)
    return bytes(data)


def write_members(path, members, methods=None):
    """A zip of ``members`` (name -> bytes), each compressed as ``methods[name]`` says."""
    methods = methods or {}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data, compress_type=methods.get(name, zipfile.ZIP_STORED))
    return path


def many_entries(n_entries):
    """A zip of ``n_entries`` empty members named ``x`` (ZIP64 end records beyond 65,535)."""
    local = b"PK\x03\x04" + struct.pack("<5H3L2H", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"x"
    entry = struct.Struct("<4s6H3L5H2L")
    directory = b"".join(
        entry.pack(b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, len(local) * i)
        + b"x"
        for i in range(n_entries)
    )
    offset, size = len(local) * n_entries, len(directory)
    end = b""
    if n_entries > 0xFFFF:
        record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n_entries, n_entries,
                             size, offset)  # fmt: skip
        end = record + struct.pack("<4sLQL", b"PK\x06\x07", 0, offset + size, 1)
    count = min(n_entries, 0xFFFF)
    end += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, offset, 0)
    return local * n_entries + directory + end


# ----------------------------------------------------------------------
# 1. Compression methods whose reads zipfile does not bound.
# ----------------------------------------------------------------------
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


# ----------------------------------------------------------------------
# 4. Directories: refused from the end record, before they are parsed.
# ----------------------------------------------------------------------
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


# ----------------------------------------------------------------------
# 2. Tensors: shapes, strides and storage checked before any value is read.
# ----------------------------------------------------------------------
def with_weights(path, new_path, change):
    """The model file ``path`` with ``change(state)`` applied to its weights (digests fixed)."""
    state = torch.load(io.BytesIO(members_of(path)["weights.pt"]), weights_only=True)
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return rewrite_model_file(path, new_path, members={"weights.pt": buffer.getvalue()})


def first_weight(state):
    """Name and tensor of the generator's first weight (a matrix, or a stack of them)."""
    key = next(k for k, v in state["generator_"].items() if v.dim() >= 2)
    return key, state["generator_"][key]


def test_a_huge_zero_stride_tensor_is_refused_before_it_is_read(tabular_file, tmp_path):
    # An expand()-ed tensor: 2**34 values over one stored number; any
    # operation on it (a finiteness check) would allocate gigabytes.
    def expand(state):
        key, _ = first_weight(state)
        state["generator_"][key] = torch.zeros(1).expand(2**17, 2**17)

    path = with_weights(tabular_file, tmp_path / "expanded.skan", expand)
    assert path.stat().st_size < MIB
    (result,) = load_in_child(path)
    assert_refused_cheaply(result, r"weights generator_\..* have shape \(131072, 131072\), not")


@pytest.mark.parametrize(
    "what, make, match",
    [
        ("zero strides", lambda t: torch.zeros(1).expand(*t.shape), "not stored densely"),
        (
            "strides that skip",
            lambda t: torch.zeros(*t.shape[:-1], 2 * t.shape[-1])[..., ::2],
            "densely",
        ),
        (
            "a window on more storage",
            lambda t: torch.zeros(t.numel() + 4096)[: t.numel()].view(t.shape),
            "not stored densely",
        ),  # fmt: skip
        ("an offset", lambda t: torch.zeros(t.numel() + 1)[1:].view(t.shape), "densely"),
        ("float64", lambda t: t.double(), "are torch.float64, not torch.float32"),
        ("int32", lambda t: t.int(), "are torch.int32, not torch.float32"),
        ("one value short", lambda t: t.flatten()[1:], "have shape"),
    ],
)
def test_tensors_must_be_what_the_networks_hold(what, make, match, tabular_file, tmp_path):
    def change(state):
        key, tensor = first_weight(state)
        state["generator_"][key] = make(tensor)

    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(with_weights(tabular_file, tmp_path / "m.skan", change))
    assert "\n" not in str(info.value), what


def test_missing_extra_and_permuted_tensors(tabular_file, tmp_path):
    def drop(state):
        state["generator_"].pop(first_weight(state)[0])

    def add(state):
        state["generator_"]["extra.weight"] = torch.zeros(3)

    for change in (drop, add):
        with pytest.raises(ModelFileError, match="is not the state_dict of the networks"):
            skanomaly.load(with_weights(tabular_file, tmp_path / "m.skan", change))

    # Channels-last weights (dense, in another axis order) are plain weights.
    def channels_last(state):
        for tensors in state.values():
            for key, tensor in tensors.items():
                if tensor.dim() == 4:
                    tensors[key] = tensor.contiguous(memory_format=torch.channels_last)

    image = tmp_path / "image.skan"
    X = np.random.default_rng(0).random((16, 1, 8, 8))
    detector = fast(GANomalyDetector, n_filters=4).fit(X)
    skanomaly.save(detector, image)
    restored = skanomaly.load(with_weights(image, tmp_path / "cl.skan", channels_last))
    np.testing.assert_allclose(restored.score_samples(X), detector.score_samples(X), rtol=1e-6)


# ----------------------------------------------------------------------
# 3. Load-time work: a fixed number of rows, whatever the file asks for.
# ----------------------------------------------------------------------
def with_start_codes(path, new_path, n_codes, **params):
    """An AnoGAN model file with ``n_codes`` start codes (and ``params`` changed)."""
    contents = members_of(path)
    key = json.loads(contents["manifest.json"])["fitted"]["latent_candidates_"]["array"]
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays[key] = np.random.default_rng(0).normal(size=(n_codes, arrays[key].shape[1]))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return rewrite_model_file(path, new_path, members={"arrays.npz": buffer.getvalue()},
                              params=params)  # fmt: skip


def test_load_scores_a_fixed_number_of_rows(fitted_image, tmp_path):
    path = tmp_path / "anogan.skan"
    skanomaly.save(fitted_image[AnoGANDetector], path)
    crafted = with_start_codes(path, tmp_path / "codes.skan", 1024, latent_steps=10_000)
    rows = []

    def record(module, inputs):
        if inputs and isinstance(inputs[0], torch.Tensor):
            rows.append(len(inputs[0]))

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        restored = skanomaly.load(crafted)
    finally:
        handle.remove()
    assert len(restored.latent_candidates_) == 1024 and restored.latent_steps == 10_000
    # Four probe rows, one at a time; one start code; five search steps.
    assert max(rows) == 1
    assert len(rows) < 4 * 2 * (2 + 5) * 40  # calls of every layer of both networks


@pytest.fixture(scope="module")
def anogan_64(tmp_path_factory):
    """An AnoGAN model file for 64x64 images, and one with 1,024 start codes."""
    folder = tmp_path_factory.mktemp("anogan")
    X = np.random.default_rng(0).random((8, 1, 64, 64))
    skanomaly.save(fast(AnoGANDetector, n_filters=2, n_epochs=1).fit(X), folder / "a.skan")
    crafted = with_start_codes(folder / "a.skan", folder / "b.skan", 1024, latent_steps=10_000)
    return folder / "a.skan", crafted


def test_load_time_memory_does_not_grow_with_the_file_numbers(anogan_64):
    path, crafted = anogan_64
    plain, many_codes = load_in_child(path, crafted, warm_up=path)
    assert plain["outcome"] == many_codes["outcome"] == "loaded"
    # Was +156 MiB and 1.1 s for the 1,024 codes (scored on 16 padded rows).
    assert many_codes["peak_mib"] < 16, many_codes
    assert many_codes["peak_mib"] < plain["peak_mib"] + 8, (plain, many_codes)


# ----------------------------------------------------------------------
# 5. Stored scores and thresholds: finite, or refused in one line.
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A model file written by ``skanomaly train``, and its data folder."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 8, 8), dtype=np.uint8)
    data = write_image_folder(
        tmp_path_factory.mktemp("cli") / "data", images[:12], images[12:], [0, 0, 0, 0, 1, 1, 1, 1]
    )
    return train_with_cli(data), data


@pytest.mark.parametrize(
    "scores",
    [
        [],
        ["0.5", "1"],
        [-1.7e308, 1.7e308],
        [1e39],
        [True, False],
        {"a": 1},
        [{"float": "nan"}],
        [[0.5]],
        "0.5",
    ],  # fmt: skip
    ids=[
        "empty",
        "strings",
        "huge",
        "beyond-float32",
        "bools",
        "dict",
        "tagged-nan",
        "nested",
        "string",
    ],  # fmt: skip
)
def test_tampered_training_scores_are_refused_in_one_line(scores, cli_model, tmp_path, capsys):
    path, data = cli_model
    crafted = rewrite_model_file(
        path, tmp_path / "t.skan", metadata={"training_anomaly_scores": scores}
    )
    with pytest.raises(ModelFileError, match="training_anomaly_scores are not") as info:
        read_metadata(crafted)
    assert "\n" not in str(info.value)
    # Quantile thresholds are taken of these scores: a traceback or -inf before.
    argv = ["score", str(crafted), str(data), "--output", str(tmp_path / "r"), "--quiet"]
    fails_with_one_line(capsys, [*argv, "--contamination", "0.2"], "training_anomaly_scores")


def test_valid_training_scores_still_set_quantile_thresholds(cli_model, tmp_path, capsys):
    path, data = cli_model
    crafted = rewrite_model_file(
        path, tmp_path / "t.skan", metadata={"training_anomaly_scores": [1, 2.5, 3]}
    )
    assert read_metadata(crafted)["training_anomaly_scores"] == [1, 2.5, 3]
    report = tmp_path / "r"
    argv = ["score", str(crafted), str(data), "--output", str(report), "--quiet"]
    assert main([*argv, "--threshold", "q0.5"]) == 0
    assert json.loads((report / "metrics.json").read_text())["threshold"] == 2.5


def with_array(path, new_path, attribute, value):
    """The model file with fitted array ``attribute`` replaced by ``value`` (digests fixed)."""
    contents = members_of(path)
    key = json.loads(contents["manifest.json"])["fitted"][attribute]["array"]
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays[key] = np.asarray(value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return rewrite_model_file(path, new_path, members={"arrays.npz": buffer.getvalue()})


@pytest.mark.parametrize(
    "change, match",
    [
        ({"offset_": {"float": "nan"}}, "offset_ is nan"),
        ({"offset_": {"float": "inf"}}, "offset_ is inf"),
        ({"offset_": {"float": "-inf"}}, "offset_ is -inf"),
        ({"offset_": []}, "offset_ is not a number"),
        ({"offset_": None}, "offset_ is not a number"),
    ],
)
def test_tampered_thresholds_are_refused(change, match, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(rewrite_model_file(tabular_file, tmp_path / "t.skan", fitted=change))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "value, match",
    [
        ([], "decision_scores_ is not a non-empty array"),
        ([[0.5, 1.0]], "decision_scores_ is not a non-empty array"),
        ([0.5, np.nan], "decision_scores_ holds NaN or infinite values"),
        ([0.5, -np.inf], "decision_scores_ holds NaN or infinite values"),
    ],
)
def test_tampered_training_scores_of_the_detector_are_refused(
    value, match, tabular_file, tmp_path
):
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(with_array(tabular_file, tmp_path / "t.skan", "decision_scores_", value))


# ----------------------------------------------------------------------
# The documented bound (docs/persistence.md): loading a file whose members
# unpack to U bytes needs at most 3 U + P + 320 MiB.
# ----------------------------------------------------------------------
BOUND_MIB = 320
DEFLATE_MAX_RATIO = 1032


def unpacked_bytes(path):
    """U: what the file's members unpack to, by its directory."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def check_bytes(path):
    """P: the scoring check's memory, 24 * n_filters * side**2 for images, 0 for tables."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except KeyError:  # no model file: refused before any check
        return 0
    shape = manifest["fitted"].get("image_shape_")
    if shape is None:
        return 0
    side = 2 ** (max(shape["tuple"][1:]) - 1).bit_length()
    return 24 * manifest["params"]["n_filters"] * side**2


def test_loading_stays_within_the_documented_bound(tabular_file, anogan_64, tmp_path):
    large = tmp_path / "large.skan"
    X = np.random.default_rng(0).normal(size=(40, 64))
    skanomaly.save(fast(GANomalyDetector, hidden_dims=(1024, 1024), n_epochs=1).fit(X), large)
    bzip2 = tmp_path / "bzip2.skan"
    contents = members_of(tabular_file)
    write_members(bzip2, dict(contents, **{"weights.pt": bytes(64 * MIB)}),
                  {"weights.pt": zipfile.ZIP_BZIP2})  # fmt: skip
    bzip2.write_bytes(declare_size(bzip2.read_bytes(), "weights.pt", 100))
    entries = tmp_path / "entries.skan"
    entries.write_bytes(many_entries(200_000))
    files = {
        # First, so that it pays torch's first-use costs (its optimiser step).
        "AnoGAN, 1,024 start codes": anogan_64[1],
        "tabular": tabular_file,
        "large tabular (stored weights)": large,
        "manifest of 2**20 values": rewrite_model_file(
            tabular_file, tmp_path / "json.skan", metadata={"x": ["abcdefghijk"] * (2**20 - 4000)}
        ),
        "deflated members": write_members(
            tmp_path / "deflated.skan", contents, dict.fromkeys(contents, zipfile.ZIP_DEFLATED)
        ),
        "BZIP2 bomb": bzip2,
        "200,000 entries": entries,
    }
    results = load_in_child(*files.values(), budget_mib=2048)
    for (name, path), result in zip(files.items(), results, strict=True):
        size = path.stat().st_size
        try:
            unpacked = unpacked_bytes(path)
        except zipfile.BadZipFile:
            unpacked = size
        assert unpacked <= DEFLATE_MAX_RATIO * size, name
        bound = (3 * unpacked + check_bytes(path)) / MIB + BOUND_MIB
        assert result["peak_mib"] <= bound, (name, result, bound)
        assert result["seconds"] < 30, (name, result)
    outcomes = [result["outcome"] for result in results]
    assert outcomes[:5] == ["loaded"] * 5 and "BZIP2" in outcomes[5] and "200,000" in outcomes[6]
    # Weights dominate the large file: its peak is within 3 U on its own too.
    assert results[2]["peak_mib"] <= 3 * unpacked_bytes(large) / MIB, results[2]


# ----------------------------------------------------------------------
# Fuzzing: a mutated file ends in ModelFileError (or ModelTooLargeError) or
# in a model that scores finitely; never another exception, a hang, or
# unbounded memory. All cases run in one child process under an
# address-space limit, each under an alarm.
# ----------------------------------------------------------------------
FUZZ_EXAMPLES = int(os.environ.get("SKANOMALY_FUZZ_EXAMPLES", "300"))
_METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


class _Hang(BaseException):
    """Raised by the alarm: a BaseException, so that load cannot report it as a bad file."""


def _zip(members, methods=None, fix_digests=False):
    """The bytes of a zip of ``members`` (name -> bytes), digests made to match if asked."""
    members = dict(members)
    if fix_digests and "manifest.json" in members:
        try:
            manifest = json.loads(members["manifest.json"])
            manifest["sha256"] = {
                k: hashlib.sha256(v).hexdigest()
                for k, v in members.items()
                if k != "manifest.json"
            }
            members["manifest.json"] = json.dumps(manifest).encode()
        except (ValueError, TypeError, AttributeError):
            pass  # a mutated manifest: keep it as it is
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            method = (methods or {}).get(name, zipfile.ZIP_STORED)
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()


def _flip(data, draw, st):
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


def _mutate(draw, st, files):
    """One mutated model file, drawn from the saved ``files`` (bytes)."""
    original = files[draw(st.integers(0, len(files) - 1))]
    kind = draw(st.sampled_from(["flip", "cut", "member", "swap", "method"]))
    if kind == "flip":
        return _flip(original, draw, st)
    if kind == "cut":
        return original[: draw(st.integers(0, len(original) - 1))]
    members = members_of(io.BytesIO(original))
    names = sorted(members)
    if kind == "member":  # damage one member, inside the file's zip and digests
        name = draw(st.sampled_from(names))
        if draw(st.booleans()):
            members[name] = _flip(members[name], draw, st)
        else:
            members[name] = members[name][: draw(st.integers(0, len(members[name])))]
        return _zip(members, fix_digests=draw(st.booleans()))
    if kind == "swap":  # a member of this file or another under some member's name
        other = members_of(io.BytesIO(files[draw(st.integers(0, len(files) - 1))]))
        source = draw(st.sampled_from(sorted(other)))
        target = draw(st.sampled_from([*names, "extra.bin"]))
        if draw(st.booleans()):
            members.pop(draw(st.sampled_from(names)), None)
        members[target] = other[source]
        return _zip(members, fix_digests=draw(st.booleans()))
    # Another compression method for a member, possibly lying about its size.
    name = draw(st.sampled_from(names))
    data = _zip(members, {name: draw(st.sampled_from(_METHODS))}, fix_digests=True)
    if draw(st.booleans()):
        data = declare_size(data, name, draw(st.integers(0, 2**20)))
    return data


def fuzz_model_files(folder, n_examples, budget_mib):
    """Run in a child process: load mutated files of the models in ``folder``."""
    import re
    import resource
    import signal
    import warnings
    from collections import Counter

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from skanomaly.exceptions import ModelTooLargeError

    torch.set_num_threads(1)
    with open("/proc/self/status") as handle:
        vm = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmSize:"))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (vm + budget_mib * MIB, hard))
    folder = Path(folder)
    files = [path.read_bytes() for path in sorted(folder.glob("*.skan"))]
    rows = {path.stem: np.load(path) for path in folder.glob("*.npy")}
    outcomes = Counter()

    def alarm(signum, frame):
        raise _Hang("a case ran for more than 30 s")

    signal.signal(signal.SIGALRM, alarm)

    @settings(
        max_examples=n_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def check(data):
        mutated = _mutate(data.draw, st, files)
        signal.alarm(30)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    read_metadata(io.BytesIO(mutated))
                    detector = skanomaly.load(io.BytesIO(mutated))
                except (ModelFileError, ModelTooLargeError) as exc:
                    message = str(exc)
                    assert "\n" not in message, message
                    assert not re.search("MemoryError|allocate|out of memory", message), message
                    outcomes["refused"] += 1
                    return
                if not hasattr(detector, "offset_"):
                    outcomes["loaded unfitted"] += 1
                    return
                shape = detector.image_shape_ or (detector.n_features_in_,)
                X = rows.get("x".join(map(str, shape)))
                if X is None:  # sizes the saved models do not have: any rows
                    X = np.random.default_rng(0).normal(size=(3, *shape))
                scores = detector.score_samples(X)
                assert np.all(np.isfinite(scores)), scores
                outcomes["loaded and scored"] += 1
        finally:
            signal.alarm(0)

    check()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"outcomes": outcomes, "peak_rss_mib": peak}))


def test_mutated_model_files_fail_cleanly_or_score(tabular_file, fitted_image, blobs, tmp_path):
    pytest.importorskip("hypothesis")
    (tmp_path / "tabular.skan").write_bytes(tabular_file.read_bytes())
    skanomaly.save(fitted_image[AnoGANDetector], tmp_path / "anogan.skan")
    np.save(tmp_path / "4.npy", blobs[0][:5])
    np.save(tmp_path / "1x8x8.npy", np.random.default_rng(0).random((3, 1, 8, 8)) * 16)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    code = (
        "from tests.test_model_file_safety import fuzz_model_files; "
        f"fuzz_model_files({str(tmp_path)!r}, {FUZZ_EXAMPLES}, 1536)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    outcomes = summary["outcomes"]
    assert sum(outcomes.values()) >= FUZZ_EXAMPLES * 0.9, summary
    # Both ends are reached: mutations the format ignores, and refusals.
    assert outcomes.get("loaded and scored", 0) > 0 and outcomes["refused"] > 0, summary


@pytest.mark.parametrize(
    "change, match",
    [
        ({"n_estimators_": 0}, "n_estimators_ = 0 is not a number of networks"),
        ({"n_estimators_": 65}, "n_estimators_ = 65 is not a number of networks"),
        ({"n_estimators_": 2.5}, "n_estimators_ = 2.5 is not a number of networks"),
        ({"n_estimators_": 3}, r"member_scaling_ is not the \(2, 3\)"),
        ({"trim_fraction_": 0.9}, "trim_fraction_ = 0.9 is not a fraction"),
        ({"anomaly_score_": "bogus"}, "anomaly_score_ = 'bogus' is not a GANomaly score"),
    ],
)
def test_tampered_ensembles_are_refused(change, match, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(rewrite_model_file(tabular_file, tmp_path / "t.skan", fitted=change))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [[[0.0] * 5, [1.0] * 4 + [0.0]], [[0.0] * 5]])
def test_tampered_member_scaling_is_refused(value, tabular_file, tmp_path):
    with pytest.raises(ModelFileError, match="member_scaling_ is not the"):
        skanomaly.load(with_array(tabular_file, tmp_path / "t.skan", "member_scaling_", value))


def test_files_from_before_ensembles_load_as_one_plain_network(blobs, tmp_path):
    # What 0.2 saved: no ensemble or robust-training parameters or attributes.
    detector = fast(
        GANomalyDetector, n_estimators=1, robust_training=False, anomaly_score="latent"
    ).fit(blobs[0])
    path = tmp_path / "new.skan"
    skanomaly.save(detector, path)
    manifest = json.loads(members_of(path)["manifest.json"])
    fitted = {
        k: v
        for k, v in manifest["fitted"].items()
        if k not in ("n_estimators_", "trim_fraction_", "anomaly_score_", "decision_scores_")
    }
    params = {
        k: v for k, v in manifest["params"].items() if k not in ("n_estimators", "robust_training")
    }
    old = rewrite_model_file(
        path, tmp_path / "old.skan", manifest={"fitted": fitted, "params": params}
    )
    loaded = skanomaly.load(old)
    assert (loaded.n_estimators, loaded.robust_training) == (1, False)
    assert (loaded.n_estimators_, loaded.trim_fraction_, loaded.anomaly_score_) == (
        1,
        0.0,
        "latent",
    )
    np.testing.assert_array_equal(loaded.score_samples(blobs[1]), detector.score_samples(blobs[1]))
