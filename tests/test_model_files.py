"""Model files under attack and accident: kills, full disks, races, crafted files.

Every failure of ``skanomaly.load`` is one ``ValueError`` line, sizes are
checked before anything is allocated, and a save never leaves a partial file
where the model was.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly import AnoGANDetector, GANomalyDetector
from skanomaly.persistence import _deflate_pays

from .conftest import fast

REPO = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture(scope="module")
def tabular_model():
    X = np.random.default_rng(0).normal(size=(60, 4))
    return fast(GANomalyDetector).fit(X), X


@pytest.fixture
def model_path(tabular_model, tmp_path):
    path = tmp_path / "model.skan"
    skanomaly.save(tabular_model[0], path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path, manifest, members, *, fix_digests=True, compress=zipfile.ZIP_STORED):
    if fix_digests:
        manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in members.items()}
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _tampered(path, *, fitted=None, params=None, members=None, manifest=None):
    contents = _members(path)
    data = json.loads(contents.pop("manifest.json"))
    data["fitted"].update(fitted or {})
    data["params"].update(params or {})
    data.update(manifest or {})
    contents.update(members or {})
    return _write(path.with_name("tampered.skan"), data, contents)


def _refused(path, match):
    with pytest.raises(ValueError, match=match) as info:
        skanomaly.load(path)
    assert "\n" not in str(info.value)
    return str(info.value)


# ----------------------------------------------------------------------
# Saving: atomic, whatever happens during the write.
# ----------------------------------------------------------------------
_SAVE_LOOP = textwrap.dedent(
    """
    import sys, numpy as np, skanomaly
    path = sys.argv[1]
    X = np.random.default_rng(int(sys.argv[2])).random((8, 1, 64, 64))
    detector = skanomaly.GANomalyDetector(
        n_epochs=1, batch_size=4, n_filters=48, random_state=0).fit(X)
    skanomaly.save(detector, path)
    print("saved", flush=True)
    for _ in range(int(sys.argv[3])):
        skanomaly.save(detector, path)
    print("done", flush=True)
    """
)


def _start_saver(path, seed, repeats):
    return subprocess.Popen(
        [sys.executable, "-c", _SAVE_LOOP, str(path), str(seed), str(repeats)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )


def test_kill_9_during_save_keeps_the_previous_model(tmp_path):
    path = tmp_path / "model.skan"
    for attempt, delay in enumerate((0.05, 0.2, 0.45)):
        process = _start_saver(path, attempt, 10_000)
        assert process.stdout.readline().strip() == "saved"
        time.sleep(delay)  # inside the save loop, at some point of a write
        process.send_signal(signal.SIGKILL)
        process.wait()
        restored = skanomaly.load(path)  # the last complete save, whole
        assert restored.image_shape_ == (1, 64, 64)
    # Killed saves leave their temporary files, never a partial model file.
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["model.skan"]


def test_concurrent_saves_to_one_path_leave_a_valid_model(tmp_path):
    path = tmp_path / "model.skan"
    processes = [_start_saver(path, seed, 15) for seed in range(3)]
    for process in processes:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0 and out.split() == ["saved", "done"]
    restored = skanomaly.load(path)
    assert np.isfinite(restored.offset_)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skan"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs, where the machine lets us mount one (root on Linux)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_keeps_the_previous_model(small_tmpfs, tabular_model):
    path = small_tmpfs / "model.skan"
    detector, X = tabular_model
    skanomaly.save(detector, path)
    before = path.read_bytes()
    big = fast(GANomalyDetector, n_filters=64).fit(np.random.default_rng(0).random((8, 1, 64, 64)))
    with pytest.raises(OSError) as info:
        skanomaly.save(big, path)
    assert info.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert [p.name for p in small_tmpfs.iterdir()] == ["model.skan"]
    np.testing.assert_array_equal(skanomaly.load(path).score_samples(X), detector.score_samples(X))


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left"), KeyboardInterrupt])
def test_failed_write_keeps_the_previous_model(error, model_path, tabular_model, monkeypatch):
    # The same as a full disk or Ctrl-C in the middle of writing the weights.
    before = model_path.read_bytes()

    def failing_write(self, name, data, *args, **kwargs):
        if name == "weights.pt":
            raise error
        return original(self, name, data, *args, **kwargs)

    original = zipfile.ZipFile.writestr
    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_write)
    with pytest.raises(type(error) if isinstance(error, OSError) else error):
        skanomaly.save(tabular_model[0], model_path)
    monkeypatch.undo()
    assert model_path.read_bytes() == before
    assert [p.name for p in model_path.parent.iterdir()] == ["model.skan"]


def test_saved_file_has_the_usual_permissions(model_path):
    umask = os.umask(0o022)
    os.umask(umask)
    assert model_path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_weights_are_stored_when_deflate_buys_nothing(tmp_path):
    assert not _deflate_pays(np.random.default_rng(0).bytes(2**16))
    assert _deflate_pays(bytes(2**16))
    X = np.random.default_rng(0).normal(size=(40, 3))
    detector = fast(GANomalyDetector, hidden_dims=(512, 512), n_epochs=1).fit(X)
    for module in detector._networks().values():  # incompressible weights: random bits
        for tensor in module.state_dict().values():
            if tensor.dtype == torch.float32:
                bits = torch.randint(-(2**31), 2**31 - 1, tensor.shape, dtype=torch.int32)
                tensor.view(torch.int32).copy_(bits)
    skanomaly.save(detector, tmp_path / "m.skan")
    with zipfile.ZipFile(tmp_path / "m.skan") as archive:
        assert archive.getinfo("weights.pt").compress_type == zipfile.ZIP_STORED


# ----------------------------------------------------------------------
# Loading: bounded, and every failure one ValueError line.
# ----------------------------------------------------------------------
def _bomb(n_bytes):
    """A zip member of ``n_bytes`` zeros, deflated to about a thousandth."""
    return bytes(n_bytes)


@pytest.mark.parametrize("member", ["weights.pt", "arrays.npz"])
def test_zip_bomb_is_refused_before_decompressing(member, model_path):
    contents = _members(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    contents[member] = _bomb(64 * 2**20)
    path = _write(
        model_path.with_name("bomb.skan"), manifest, contents, compress=zipfile.ZIP_DEFLATED
    )
    assert path.stat().st_size < 2**20
    _refused(path, f"refused: {member} would take 67,108,864 bytes, more than")


def test_inner_bombs_are_refused(model_path):
    contents = _members(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    # arrays.npz whose own member decompresses past the cap.
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("array_0.npy", _bomb(32 * 2**20))
    bad = dict(contents, **{"arrays.npz": npz.getvalue()})
    _refused(_write(model_path.with_name("a.skan"), dict(manifest), bad), "arrays.npz is larger")
    # An npy header that claims more than its bytes hold.
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("array_0.npy", header.getvalue() + bytes(64))
    bad = dict(contents, **{"arrays.npz": npz.getvalue()})
    _refused(
        _write(model_path.with_name("b.skan"), dict(manifest), bad), "does not match its data"
    )
    # weights.pt (itself a zip) whose records decompress past the cap.
    weights = io.BytesIO()
    with zipfile.ZipFile(weights, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("w/data/0", _bomb(32 * 2**20))
    bad = dict(contents, **{"weights.pt": weights.getvalue()})
    _refused(_write(model_path.with_name("c.skan"), dict(manifest), bad), "holds more than")


def test_member_that_lies_about_its_size_is_refused(model_path):
    data = bytearray(model_path.read_bytes())
    with zipfile.ZipFile(model_path) as archive:
        info = archive.getinfo("weights.pt")
    # Patch the declared (uncompressed) size in both headers to 100 bytes.
    for offset in (info.header_offset + 22, data.rfind(b"weights.pt") - 46 + 24):
        data[offset : offset + 4] = (100).to_bytes(4, "little")
    path = model_path.with_name("liar.skan")
    path.write_bytes(bytes(data))
    _refused(path, "skanomaly model file")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"fitted": {"latent_dim_": 10**9}}, "latent_dim_ = 1000000000 is outside \\[1, 8192\\]"),
        ({"fitted": {"n_features_in_": 2**40}}, "n_features_in_ = .* is outside"),
        ({"fitted": {"hidden_dims_": {"tuple": [2**30, 8]}}}, "hidden_dims_ .* out of range"),
        ({"fitted": {"n_features_in_": True}}, "n_features_in_ = True is outside"),
        ({"fitted": {"offset_": {"float": "nan"}}}, "offset_ is nan"),
        ({"fitted": {"offset_": "0.5"}}, "offset_ is not a number"),
        (
            {"fitted": {"hidden_dims_": {"tuple": [8000, 8000, 8000, 8000]}}},
            "limit of 268,435,456",
        ),
        ({"params": {"batch_size": 10**9}}, "batch_size = 1000000000 exceeds the limit"),
        ({"params": {"learning_rate": {"float": "inf"}}}, "learning_rate"),
    ],
)
def test_tampered_tabular_sizes_are_refused(model_path, change, match):
    _refused(_tampered(model_path, **change), match)


@pytest.fixture(scope="module")
def image_anogan():
    X = np.random.default_rng(0).random((20, 1, 8, 8))
    return fast(AnoGANDetector, n_filters=8).fit(X), X


@pytest.mark.parametrize(
    "change, match",
    [
        ({"params": {"latent_steps": 10**12}}, "latent_steps = 1000000000000 exceeds the limit"),
        # Sized before building: small enough to build here, then the weights do not fit.
        ({"params": {"n_filters": 3000}}, "networks would hold|weights of generator_ do not fit"),
        (
            {"fitted": {"image_shape_": {"tuple": [1, 2048, 2048]}, "n_features_in_": 2048**2}},
            "is not an array of 4194304 values|networks would hold",
        ),
        ({"fitted": {"image_shape_": {"tuple": [1, 8, 8192]}}}, "8x8192 pixels exceed the limit"),
        ({"fitted": {"image_shape_": {"tuple": [1, 8, 16]}}}, "does not match n_features_in_"),
    ],
)
def test_tampered_image_sizes_are_refused(image_anogan, tmp_path, change, match):
    path = tmp_path / "anogan.skan"
    skanomaly.save(image_anogan[0], path)
    _refused(_tampered(path, **change), match)


def test_json_tricks_are_refused(model_path):
    contents = _members(model_path)
    text = contents.pop("manifest.json").decode()
    cases = {
        "deep": ('"metadata": {}', '"metadata": ' + "[" * 200_000 + "]" * 200_000),
        "nested": ('"metadata": {}', '"metadata": ' + "[" * 100 + "]" * 100),
        "NaN": ('"offset_": ', '"offset_": NaN, "x_": '),
        "Infinity": ('"offset_": ', '"offset_": -Infinity, "x_": '),
        "overflow": ('"offset_": ', '"offset_": 1e400, "x_": '),
    }
    for name, (old, new) in cases.items():
        assert old in text
        path = model_path.with_name(f"{name}.skan")
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("manifest.json", text.replace(old, new, 1))
            for member, data in contents.items():
                archive.writestr(member, data)
        _refused(path, "nests too deeply|is not a JSON number|overflows")


def test_nan_weights_and_scaling_are_refused(model_path, tabular_model):
    detector, X = tabular_model
    broken = fast(GANomalyDetector).fit(X)
    next(iter(broken.generator_.parameters())).data[0] = float("nan")
    skanomaly.save(broken, model_path.with_name("nan.skan"))
    _refused(model_path.with_name("nan.skan"), "hold NaN or infinite values")

    for attribute in ("scale_", "shift_"):
        broken = fast(GANomalyDetector).fit(X)
        getattr(broken, attribute)[1] = np.nan
        skanomaly.save(broken, model_path.with_name("s.skan"))
        _refused(model_path.with_name("s.skan"), f"{attribute} (holds NaN|has values)")

    broken = fast(GANomalyDetector).fit(X)
    broken.offset_ = float("nan")
    skanomaly.save(broken, model_path.with_name("o.skan"))
    _refused(model_path.with_name("o.skan"), "offset_ is nan")


def test_model_that_cannot_score_is_refused(tabular_model, tmp_path):
    # Finite weights, broken statistics: a negative batch-norm variance.
    detector, X = tabular_model
    broken = fast(GANomalyDetector).fit(X)
    norms = [m for m in broken.generator_.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms
    norms[0].running_var.fill_(-1.0)
    assert not np.all(np.isfinite(broken.score_samples(X)))
    skanomaly.save(broken, tmp_path / "m.skan")
    _refused(tmp_path / "m.skan", "gives non-finite scores")


def test_every_damage_is_one_valueerror_line(model_path):
    data = model_path.read_bytes()
    rng = np.random.default_rng(0)
    damaged = model_path.with_name("damaged.skan")
    messages = []
    for cut in np.linspace(0, len(data) - 1, 25).astype(int):
        damaged.write_bytes(data[:cut])
        messages.append(_refused(damaged, "skanomaly model file"))
    for position in rng.integers(0, len(data), 40):
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        damaged.write_bytes(bytes(flipped))
        try:
            skanomaly.load(damaged)  # a byte the format ignores (zip padding)
        except ValueError as exc:
            assert "\n" not in str(exc)
            messages.append(str(exc))
    # A damaged .skan is not a pickle: no advice to reach for joblib.load.
    assert not any("joblib" in m for m in messages)


def test_deflate_stream_cut_inside_the_weights(model_path, tmp_path):
    # Ctrl-C during an old in-place save: a zip whose weights stream is cut.
    contents = _members(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    path = _write(tmp_path / "cut.skan", manifest, contents, compress=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("weights.pt")
    start = info.header_offset + 30 + len(info.filename)
    data[start + 100 : start + info.compress_size] = zlib.compress(b"x")[:1] * (
        info.compress_size - 100
    )
    path.write_bytes(bytes(data))
    _refused(path, "skanomaly model file")


def test_folder_and_missing_file(tmp_path):
    _refused(tmp_path, "is a folder")
    with pytest.raises(FileNotFoundError):
        skanomaly.load(tmp_path / "absent.skan")


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
    contents = _members(model_path)
    manifest = json.loads(contents.pop("manifest.json"))
    contents["weights.pt"] = _bomb(2**30)
    path = _write(
        model_path.with_name("bomb.skan"), manifest, contents, compress=zipfile.ZIP_DEFLATED
    )
    result = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    before, after = (int(v) for v in result.stdout.split())
    assert "refused: skanomaly model file refused: weights.pt" in result.stderr
    assert after - before < 64 * 1024  # KiB: nothing near the 1 GiB


def test_open_file_objects_still_work(tabular_model):
    detector, X = tabular_model
    buffer = io.BytesIO()
    skanomaly.save(detector, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(
        skanomaly.load(buffer).score_samples(X), detector.score_samples(X)
    )
    with pytest.raises(ValueError, match="not a zip archive"):
        skanomaly.load(io.BytesIO(b"junk" * 100))


def test_n_filters_beyond_the_network_limit_is_refused_before_building(tmp_path):
    X = np.random.default_rng(0).random((8, 1, 32, 32))
    path = tmp_path / "m.skan"
    skanomaly.save(fast(GANomalyDetector, n_filters=4).fit(X), path)
    message = _refused(_tampered(path, params={"n_filters": 3000}), "networks would hold")
    assert "268,435,456" in message


def test_save_refuses_metadata_that_load_would_refuse(tabular_model, tmp_path):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    with pytest.raises(TypeError, match="metadata nests more than 28 levels"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": deep})
    with pytest.raises(TypeError, match="plain JSON"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": float("nan")})
    assert not any(tmp_path.iterdir())
