"""Loading is bounded: peak memory per file, the documented bound, and fuzzing.

Files are loaded in a child process under an address-space limit, whose
peak memory per file is measured (``VmHWM`` reset before each load), so a
regression fails the test instead of swapping the machine.  The fuzz test
loads mutated files: each ends in a ``ModelFileError`` or a model that
scores finitely.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
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
from skanomaly.exceptions import ModelFileError
from skanomaly.persistence import read_metadata

from ..conftest import fast, rewrite_model_file
from .conftest import (
    MIB,
    bomb,
    child_env,
    declare_size,
    load_in_child,
    many_entries,
    members_of,
    with_start_codes,
    write_members,
    write_model,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="measures memory through /proc (Linux)"
)


# ----------------------------------------------------------------------
# Peak memory of single loads.
# ----------------------------------------------------------------------
_PEAK = textwrap.dedent(
    """
    import resource, sys, skanomaly
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        skanomaly.load(sys.argv[1])
    except ValueError as exc:
        print("refused:", exc, file=sys.stderr)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(before, after)
    """
)


def test_peak_memory_of_loading_a_bomb_is_bounded(model_path):
    # 1 GiB of zeros deflates to about 1 MiB: loading must not inflate it.
    contents = members_of(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    contents["weights.pt"] = bomb(2**30)
    path = write_model(
        model_path.with_name("bomb.skan"), manifest, contents, compress=zipfile.ZIP_DEFLATED
    )
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
    )
    before, after = (int(v) for v in result.stdout.split())
    assert "refused: skanomaly model file refused: weights.pt" in result.stderr
    assert after - before < 64 * 1024  # KiB: nothing near the 1 GiB


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
    code = (
        "from tests.persistence.test_memory import fuzz_model_files; "
        f"fuzz_model_files({str(tmp_path)!r}, {FUZZ_EXAMPLES}, 1536)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=600
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    summary = json.loads(result.stdout.splitlines()[-1])
    outcomes = summary["outcomes"]
    assert sum(outcomes.values()) >= FUZZ_EXAMPLES * 0.9, summary
    # Both ends are reached: mutations the format ignores, and refusals.
    assert outcomes.get("loaded and scored", 0) > 0 and outcomes["refused"] > 0, summary
