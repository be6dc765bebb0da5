"""Shared fixtures and helpers of the model-file and pickling tests.

Fitted detectors and the model files saved from them, crafted files (zip
layers rewritten member by member, sizes misdeclared), and a child process
that loads files under an address-space limit and measures each load's
peak memory.
"""

from __future__ import annotations

import copy
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
from skanomaly import GANomalyDetector
from skanomaly.exceptions import ModelFileError

from ..conftest import TEST_DEVICE, fast, networks, rewrite_model_file

REPO = Path(__file__).resolve().parents[2]
MIB = 2**20

# The memory measurements read /proc.
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="measures memory through /proc (Linux)"
)


def child_env():
    """The environment of a child Python process: this checkout's skanomaly, one thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


# ----------------------------------------------------------------------
# Fitted detectors and their files.
# ----------------------------------------------------------------------
@pytest.fixture(params=["tabular", "images"])
def fitted(request, detector_class, fitted_tabular, fitted_image, blobs, digits_images):
    """A fitted fast detector (a private copy of the shared one) and data to score."""
    inliers, outliers = blobs
    if request.param == "tabular":
        detector, X_test = fitted_tabular[detector_class], np.r_[inliers[:20], outliers]
    else:
        detector, X_test = fitted_image[detector_class], digits_images[0][64:96]
    return copy.deepcopy(detector), X_test


def assert_same_model(restored, original, X):
    assert type(restored) is type(original)
    assert restored.get_params() == original.get_params()
    fitted = {k for k in vars(original) if k.endswith("_") and not k.startswith("_")}
    assert fitted == {k for k in vars(restored) if k.endswith("_") and not k.startswith("_")}
    for name in fitted - set(networks(original)):
        a, b = getattr(original, name), getattr(restored, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b and type(a) is type(b), name
    for name, module in networks(original).items():
        other = getattr(restored, name)
        assert not other.training
        for (key, a), (_, b) in zip(
            module.state_dict().items(), other.state_dict().items(), strict=True
        ):
            assert torch.equal(a.cpu(), b.cpu()), f"{name}.{key}"
    # Bit-exact on the CPU; cuDNN may pick another algorithm for the same
    # weights in a new process, which moves a float64 result by an ulp.
    same = (
        np.testing.assert_array_equal
        if TEST_DEVICE == "cpu"
        else lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    )
    same(restored.score_samples(X), original.score_samples(X))
    same(restored.reconstruct(X), original.reconstruct(X))
    np.testing.assert_array_equal(restored.predict(X), original.predict(X))


def on_cpu(detector):
    """The detector moved to the CPU (the suite may run with SKANOMALY_TEST_DEVICE=cuda)."""
    for module in networks(detector).values():
        module.cpu()
    detector.device_ = "cpu"
    return detector


@pytest.fixture
def cpu_only(monkeypatch):
    """Pretend this machine has no GPU, also where it has one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


# ----------------------------------------------------------------------
# Crafted files.
# ----------------------------------------------------------------------
class Payload:
    """Unpickling this creates the file ``marker``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def saved_file(fitted, tmp_path):
    """The ``fitted`` detector saved to a model file."""
    path = tmp_path / "model.skan"
    skanomaly.save(fitted[0], path)
    return path


def tampered(path, **changes):
    """The model file at ``path`` with some parts replaced (a new file beside it)."""
    return rewrite_model_file(path, path.with_name("tampered.skan"), **changes)


@pytest.fixture
def tabular_model(fitted_tabular, blobs):
    """The shared tabular GANomaly (read only) and 60 of its training rows."""
    return fitted_tabular[GANomalyDetector], blobs[0][:60]


@pytest.fixture
def model_path(tabular_model, tmp_path):
    path = tmp_path / "model.skan"
    skanomaly.save(tabular_model[0], path)
    return path


@pytest.fixture(scope="module")
def tabular_file(tmp_path_factory, blobs):
    """A small tabular GANomaly model file."""
    path = tmp_path_factory.mktemp("model") / "model.skan"
    skanomaly.save(fast(GANomalyDetector, hidden_dims=(16, 8), latent_dim=3).fit(blobs[0]), path)
    return path


def members_of(path):
    """The members of the zip at ``path`` (a path or a binary file), name -> bytes."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_model(path, manifest, members, *, fix_digests=True, compress=zipfile.ZIP_STORED):
    """A model file of ``manifest`` and ``members`` at ``path``, digests fixed unless told."""
    if fix_digests:
        manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def refused(path, match):
    """Loading ``path`` fails with one line that matches ``match``: that line."""
    with pytest.raises(ModelFileError, match=match) as info:
        skanomaly.load(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def bomb(n_bytes):
    """A zip member of ``n_bytes`` zeros, deflated to about a thousandth."""
    return bytes(n_bytes)


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


# ----------------------------------------------------------------------
# Loading in a child process, memory measured.
# ----------------------------------------------------------------------
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
    env = child_env()
    # Large blocks straight from mmap and back: the resident set follows the
    # allocations, so each file's peak is its own.
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
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
