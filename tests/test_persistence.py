"""Persistence: joblib/pickle round trips, moving off a GPU, and the safe model file.

``skanomaly.save`` / ``skanomaly.load`` under attack and accident: every
failure of ``load`` is one ``ValueError`` line and runs nothing, sizes are
checked before anything is allocated, and a save never leaves a partial file
where the model was (kills, full disks, races, crafted files).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skanomaly
from skanomaly import AnoGANDetector, GANomalyDetector
from skanomaly.exceptions import DeviceWarning, ModelFileError, VersionMismatchWarning

from .conftest import (
    TEST_DEVICE,
    _deflate_pays,
    available_device,
    fast,
    networks,
    rewrite_model_file,
)

REPO = Path(__file__).resolve().parents[1]


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


# ----------------------------------------------------------------------
# joblib and pickle.
# ----------------------------------------------------------------------
def test_joblib_round_trip_is_exact(fitted, tmp_path):
    detector, X = fitted
    joblib.dump(detector, tmp_path / "model.joblib")
    assert_same_model(joblib.load(tmp_path / "model.joblib"), detector, X)


def test_pickle_round_trip_is_exact(fitted):
    detector, X = fitted
    assert_same_model(pickle.loads(pickle.dumps(detector)), detector, X)


def test_pickling_leaves_the_live_estimator_alone(fitted):
    # Python >= 3.11 hands out __dict__ itself as the state: editing the
    # state (as __getstate__ does to move networks to the CPU) must not
    # reach the estimator.
    detector, _ = fitted
    modules = networks(detector)
    state = detector.__getstate__()
    state["offset_"] = 123.0
    state.update({name: None for name in modules})
    assert detector.offset_ != 123.0
    assert networks(detector) == modules


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")])
def test_pickles_record_versions_and_warn_when_they_differ(dump, load, fitted, monkeypatch):
    detector, X = fitted

    def round_trip(obj):
        if dump == "joblib":
            buffer = io.BytesIO()
            joblib.dump(obj, buffer)
            return lambda: joblib.load(io.BytesIO(buffer.getvalue()))
        data = dump(obj)
        return lambda: load(data)

    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)
        assert_same_model(round_trip(detector)(), detector, X)  # same versions: silent
        copy.deepcopy(detector)
    monkeypatch.setattr(skanomaly, "__version__", "0.0.1")
    restore = round_trip(detector)
    monkeypatch.undo()
    with pytest.warns(
        VersionMismatchWarning, match="pickled detector was written with skanomaly '0.0.1'"
    ):
        restored = restore()
    assert "_skanomaly_versions" not in vars(restored)
    assert_same_model(restored, detector, X)


def test_pickles_without_versions_warn(fitted):
    # What earlier releases wrote: the state without the versions.
    detector, X = fitted
    state = detector.__getstate__()
    del state["_skanomaly_versions"]
    restored = object.__new__(type(detector))
    with pytest.warns(
        VersionMismatchWarning, match="pickled detector records no library versions"
    ):
        restored.__setstate__(state)
    assert_same_model(restored, detector, X)


def _on_cpu(detector):
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


def test_gpu_trained_pickle_loads_on_cpu_only_machine(fitted, cpu_only):
    # What __getstate__ writes on a GPU machine: CPU tensors, device_ "cuda".
    detector, X = fitted
    detector = _on_cpu(detector)
    detector.device_ = "cuda"
    payload = pickle.dumps(detector)
    detector.device_ = "cpu"
    with pytest.warns(DeviceWarning, match="trained on 'cuda'.*loaded on 'cpu'"):
        restored = pickle.loads(payload)
    assert restored.device_ == "cpu"
    assert_same_model(restored, detector, X)


def test_missing_gpu_index_falls_back_to_first_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert available_device("cuda:0") == "cuda:0"
    with pytest.warns(DeviceWarning, match="'cuda:3'.*loaded on 'cuda:0'"):
        assert available_device("cuda:3") == "cuda:0"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_model_pickles_to_a_cpu_machine(detector_class, blobs, monkeypatch):
    inliers, outliers = blobs
    detector = fast(detector_class, device="cuda").fit(inliers)
    payload = pickle.dumps(detector)
    # Pickling must not move the live networks off the GPU.
    assert all(p.is_cuda for m in networks(detector).values() for p in m.parameters())
    expected = detector.score_samples(outliers)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.warns(DeviceWarning, match="loaded on 'cpu'"):
        restored = pickle.loads(payload)
    np.testing.assert_allclose(restored.score_samples(outliers), expected, rtol=1e-4)


# ----------------------------------------------------------------------
# skanomaly.save / skanomaly.load.
# ----------------------------------------------------------------------
def test_save_load_round_trip_is_exact(fitted, tmp_path):
    detector, X = fitted
    skanomaly.save(detector, tmp_path / "model.skan")
    rng_state = torch.random.get_rng_state()
    restored = skanomaly.load(tmp_path / "model.skan")
    # Re-building the networks must not consume the user's global torch RNG.
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert_same_model(restored, detector, X)


def test_save_load_keeps_parameter_types(detector_class, blobs, tmp_path):
    inliers = blobs[0][:48]
    detector = fast(
        detector_class,
        hidden_dims=[16, 8],
        device=torch.device("cpu"),
        random_state=np.random.RandomState(7),
    ).fit(inliers)
    skanomaly.save(detector, tmp_path / "model.skan")
    restored = skanomaly.load(tmp_path / "model.skan")
    assert restored.hidden_dims == [16, 8]
    assert restored.device == torch.device("cpu")
    np.testing.assert_array_equal(
        restored.random_state.get_state()[1], detector.random_state.get_state()[1]
    )
    np.testing.assert_array_equal(restored.score_samples(inliers), detector.score_samples(inliers))


def test_save_load_feature_names(detector_class, blobs, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(blobs[0][:48], columns=["a", "b", "c", "d"])
    detector = fast(detector_class, hidden_dims=(8,)).fit(frame)
    skanomaly.save(detector, tmp_path / "model.skan")
    restored = skanomaly.load(tmp_path / "model.skan")
    np.testing.assert_array_equal(restored.feature_names_in_, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(restored.score_samples(frame), detector.score_samples(frame))


def test_load_keeps_fitted_values_that_building_draws(
    detector_class, blobs, tmp_path, monkeypatch
):
    # Re-building the networks on load must not replace fitted values that
    # _build_networks draws (AnoGAN's start codes, say) with fresh ones.
    original = detector_class._build_networks

    def build_networks(self):
        original(self)
        self.drawn_ = torch.randn(5).numpy()
        self.drawn_tensor_ = torch.randn(2, 3)

    monkeypatch.setattr(detector_class, "_build_networks", build_networks)
    detector = fast(detector_class, hidden_dims=(8,)).fit(blobs[0][:48])
    skanomaly.save(detector, tmp_path / "model.skan")
    restored = skanomaly.load(tmp_path / "model.skan")
    np.testing.assert_array_equal(restored.drawn_, detector.drawn_)
    assert torch.equal(restored.drawn_tensor_, detector.drawn_tensor_)


def test_save_load_unfitted(detector_class, tmp_path):
    skanomaly.save(fast(detector_class, contamination=0.2), tmp_path / "model.skan")
    restored = skanomaly.load(tmp_path / "model.skan")
    assert restored.contamination == 0.2
    with pytest.raises(NotFittedError):
        check_is_fitted(restored)


def test_gpu_trained_file_loads_on_cpu_only_machine(fitted, tmp_path, cpu_only):
    detector, X = fitted
    detector = _on_cpu(detector)
    detector.device_ = "cuda:0"
    skanomaly.save(detector, tmp_path / "model.skan")
    detector.device_ = "cpu"
    with pytest.warns(DeviceWarning, match="trained on 'cuda:0'.*loaded on 'cpu'"):
        restored = skanomaly.load(tmp_path / "model.skan")
    assert restored.device_ == "cpu"
    assert_same_model(restored, detector, X)


def test_save_rejects_what_it_cannot_store_safely(detector_class, tmp_path):
    with pytest.raises(TypeError, match="stores skanomaly detectors.*IsolationForest"):
        skanomaly.save(IsolationForest(), tmp_path / "model.skan")
    with pytest.raises(TypeError, match="parameter 'hidden_dims' of type object"):
        skanomaly.save(fast(detector_class, hidden_dims=object()), tmp_path / "model.skan")


# ----------------------------------------------------------------------
# Foreign and tampered files: a clear error, and nothing executed.
# ----------------------------------------------------------------------
class _Payload:
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


def _rewrite(path, **changes):
    """The model file at ``path`` with some parts replaced (a new file beside it)."""
    return rewrite_model_file(path, path.with_name("tampered.skan"), **changes)


def test_malicious_payload_really_runs_under_pickle(tmp_path):
    # The control for the tests below: the payload does execute when unpickled.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("writer", ["pickle", "joblib", "torch.save"])
def test_load_refuses_pickles_and_runs_nothing(writer, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.skan"
    if writer == "pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
        match = "not a skanomaly model file \\(not a zip archive\\)"
    elif writer == "joblib":
        joblib.dump(_Payload(marker), path)
        match = "not a skanomaly model file \\(not a zip archive\\)"
    else:  # a zip archive, but a torch pickle inside
        torch.save({"x": _Payload(marker)}, path)
        match = "not a skanomaly model file: its zip archive has 6 entries; it may have at most 3"
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(path)
    assert not marker.exists()


def test_load_refuses_malicious_weights_with_valid_digests(saved_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"generator_": _Payload(marker)}, buffer)
    path = _rewrite(saved_file, members={"weights.pt": buffer.getvalue()})
    with pytest.raises(ModelFileError, match="unsafe or corrupted.*weights.pt holds more than"):
        skanomaly.load(path)
    assert not marker.exists()


def test_load_refuses_malicious_arrays(saved_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("array_0.npy", buffer.getvalue())
    path = _rewrite(saved_file, members={"arrays.npz": npz.getvalue()})
    with pytest.raises(
        ModelFileError, match="corrupted skanomaly model file: unreadable arrays.npz"
    ):
        skanomaly.load(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "manifest, match",
    [
        ({"format": "something-else"}, "is not a skanomaly manifest"),
        ({"format_version": 99}, "unsupported skanomaly model format version 99"),
        ({"class": "os.system"}, "unknown detector class 'os.system'"),
        ({"class": "IsolationForest"}, "unknown detector class 'IsolationForest'"),
        ({"params": {"contamination": 0.1, "exec": "x"}}, "unknown parameters .*'exec'"),
        ({"params": {"contamination": 5.0}}, "malformed.*'contamination' parameter"),
        ({"params": {"contamination": {"pickle": "x"}}}, "malformed.*unexpected value"),
        ({"fitted": {"__class__": 1}}, "bad attribute name '__class__'"),
        ({"fitted": {"offset_": {"array": ["x"]}}}, "malformed.*unexpected value"),
        ({"networks": ["generator_"]}, "networks \\[.generator_.\\], but"),
        ({"params": []}, "'params' is missing or invalid"),
    ],
)
def test_load_refuses_a_wrong_manifest(saved_file, manifest, match):
    with pytest.raises(ModelFileError, match=match):
        skanomaly.load(_rewrite(saved_file, manifest=manifest))


def test_load_refuses_damaged_files(saved_file, tmp_path):
    (tmp_path / "random.skan").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a zip archive"):
        skanomaly.load(tmp_path / "random.skan")

    changed = _rewrite(saved_file, members={"weights.pt": b"junk"}, fix_digests=False)
    with pytest.raises(ModelFileError, match="weights.pt does not match its digest"):
        skanomaly.load(changed)

    with zipfile.ZipFile(tmp_path / "no-json.skan", "w") as archive:
        archive.writestr("manifest.json", b"\x80 not json")
    with pytest.raises(ModelFileError, match="unreadable manifest.json"):
        skanomaly.load(tmp_path / "no-json.skan")


def test_load_warns_on_version_mismatch(saved_file, fitted):
    path = _rewrite(saved_file, manifest={"versions": {"skanomaly": "0.0.1", "torch": "1.0"}})
    with pytest.warns(VersionMismatchWarning, match="skanomaly '0.0.1'.*torch '1.0'"):
        restored = skanomaly.load(path)
    detector, X = fitted
    np.testing.assert_array_equal(restored.score_samples(X), detector.score_samples(X))


# ----------------------------------------------------------------------
# Model files under attack and accident.
# ----------------------------------------------------------------------
def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
def tabular_model(fitted_tabular, blobs):
    """The shared tabular GANomaly (read only) and 60 of its training rows."""
    return fitted_tabular[GANomalyDetector], blobs[0][:60]


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


def _tampered(path, **changes):
    return rewrite_model_file(path, path.with_name("tampered.skan"), **changes)


def _refused(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
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
    for module in networks(detector).values():  # incompressible weights: random bits
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
    _refused(
        _write(model_path.with_name("a.skan"), dict(manifest), bad),
        "arrays.npz would unpack to 33,554,432 bytes, more than",
    )
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
    # weights.pt (itself a zip) whose record decompresses past the cap: torch
    # stores its records, so a deflated one is refused before it is read.
    weights = io.BytesIO()
    with zipfile.ZipFile(weights, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/0", _bomb(32 * 2**20))
    bad = dict(contents, **{"weights.pt": weights.getvalue()})
    _refused(
        _write(model_path.with_name("c.skan"), dict(manifest), bad),
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


@pytest.fixture
def image_anogan(fitted_image):
    return fitted_image[AnoGANDetector]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"params": {"latent_steps": 10**12}}, "latent_steps = 1000000000000 exceeds the limit"),
        # Sized before building: small enough to build here, then the weights do not fit.
        ({"params": {"n_filters": 3000}}, "networks would hold|weights generator_.* have shape"),
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
    skanomaly.save(image_anogan, path)
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
    broken = copy.deepcopy(detector)
    next(iter(broken.generator_.parameters())).data[0] = float("nan")
    skanomaly.save(broken, model_path.with_name("nan.skan"))
    _refused(model_path.with_name("nan.skan"), "hold NaN or infinite values")

    for attribute in ("scale_", "shift_"):
        broken = copy.deepcopy(detector)
        getattr(broken, attribute)[1] = np.nan
        skanomaly.save(broken, model_path.with_name("s.skan"))
        _refused(model_path.with_name("s.skan"), f"{attribute} (holds NaN|has values)")

    broken = copy.deepcopy(detector)
    broken.offset_ = float("nan")
    skanomaly.save(broken, model_path.with_name("o.skan"))
    _refused(model_path.with_name("o.skan"), "offset_ is nan")


def test_model_that_cannot_score_is_refused(tabular_model, tmp_path):
    # Finite weights, broken statistics: a negative batch-norm variance.
    detector, X = tabular_model
    broken = copy.deepcopy(detector)
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
    with pytest.raises(ModelFileError, match="not a zip archive"):
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
    with pytest.raises(ValueError, match="manifest would take .* store less metadata"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": [0] * 2**20})
    with pytest.raises(ValueError, match="manifest would take .* store less metadata"):
        skanomaly.save(tabular_model[0], tmp_path / "m.skan", metadata={"x": "x" * 2**24})
    assert not any(tmp_path.iterdir())


def test_tampered_bounds_are_refused(model_path):
    contents = _members(model_path)
    manifest = json.loads(contents["manifest.json"])
    with np.load(io.BytesIO(contents["arrays.npz"])) as npz:
        arrays = {k: npz[k] for k in npz.files}
    key = manifest["fitted"]["input_bounds_"]["array"]
    arrays[key] = arrays[key][::-1].copy()  # lower above upper
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _refused(
        _tampered(model_path, members={"arrays.npz": buffer.getvalue()}), "input_bounds_ is not"
    )
