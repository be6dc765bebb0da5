"""Persistence: joblib/pickle round trips, moving off a GPU, and the safe format."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skanomaly
from skanomaly._runtime import available_device
from skanomaly.persistence import VersionMismatchWarning

from .conftest import TEST_DEVICE, fast

_FITTED: dict = {}


@pytest.fixture(params=["tabular", "images"])
def fitted(request, detector_class, blobs, digits_images):
    """A fitted fast detector (a fresh copy) and data to score: rows or 8x8 images."""
    inliers, outliers = blobs
    images, _ = digits_images
    key = (detector_class, request.param)
    if key not in _FITTED:  # fit once per module: the CPUs are shared
        if request.param == "tabular":
            X, X_test = inliers[:64], np.r_[inliers[64:84], outliers]
            detector = fast(detector_class, hidden_dims=(16, 8))
        else:
            X, X_test = images[:64], images[64:96]
            detector = fast(detector_class, n_filters=4)
        _FITTED[key] = detector.fit(X), X_test
    detector, X_test = _FITTED[key]
    return copy.deepcopy(detector), X_test


def assert_same_model(restored, original, X):
    assert type(restored) is type(original)
    assert restored.get_params() == original.get_params()
    fitted = {k for k in vars(original) if k.endswith("_") and not k.startswith("_")}
    assert fitted == {k for k in vars(restored) if k.endswith("_") and not k.startswith("_")}
    for name in fitted - set(original._networks()):
        a, b = getattr(original, name), getattr(restored, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        else:
            assert a == b and type(a) is type(b), name
    for name, module in original._networks().items():
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
    networks = detector._networks()
    state = detector.__getstate__()
    state["offset_"] = 123.0
    state.update({name: None for name in networks})
    assert detector.offset_ != 123.0
    assert detector._networks() == networks


def _on_cpu(detector):
    """The detector moved to the CPU (the suite may run with SKANOMALY_TEST_DEVICE=cuda)."""
    for module in detector._networks().values():
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
    with pytest.warns(UserWarning, match="trained on 'cuda'.*loaded on 'cpu'"):
        restored = pickle.loads(payload)
    assert restored.device_ == "cpu"
    assert_same_model(restored, detector, X)


def test_missing_gpu_index_falls_back_to_first_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert available_device("cuda:0") == "cuda:0"
    with pytest.warns(UserWarning, match="'cuda:3'.*loaded on 'cuda:0'"):
        assert available_device("cuda:3") == "cuda:0"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_real_gpu_model_pickles_to_a_cpu_machine(detector_class, blobs, monkeypatch):
    inliers, outliers = blobs
    detector = fast(detector_class, device="cuda").fit(inliers)
    payload = pickle.dumps(detector)
    # Pickling must not move the live networks off the GPU.
    assert all(p.is_cuda for m in detector._networks().values() for p in m.parameters())
    expected = detector.score_samples(outliers)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.warns(UserWarning, match="loaded on 'cpu'"):
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
    with pytest.warns(UserWarning, match="trained on 'cuda:0'.*loaded on 'cpu'"):
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


def _rewrite(path, *, manifest=None, members=None, fix_digests=True):
    """Copy the model file at ``path`` with some parts replaced; return the new path."""
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(contents.pop("manifest.json"))
    data.update(manifest or {})
    contents.update(members or {})
    if fix_digests:
        data["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    new = path.with_name("tampered.skan")
    with zipfile.ZipFile(new, "w") as archive:
        archive.writestr("manifest.json", json.dumps(data))
        for name, content in contents.items():
            archive.writestr(name, content)
    return new


@pytest.fixture
def model_file(fitted, tmp_path):
    path = tmp_path / "model.skan"
    skanomaly.save(fitted[0], path)
    return path


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
        match = "not a skanomaly model file: no manifest.json"
    with pytest.raises(ValueError, match=match):
        skanomaly.load(path)
    assert not marker.exists()


def test_load_refuses_malicious_weights_with_valid_digests(model_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    torch.save({"generator_": _Payload(marker)}, buffer)
    path = _rewrite(model_file, members={"weights.pt": buffer.getvalue()})
    with pytest.raises(ValueError, match="unsafe or corrupted.*weights.pt holds more than"):
        skanomaly.load(path)
    assert not marker.exists()


def test_load_refuses_malicious_arrays(model_file, tmp_path):
    marker = tmp_path / "ran"
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("array_0.npy", buffer.getvalue())
    path = _rewrite(model_file, members={"arrays.npz": npz.getvalue()})
    with pytest.raises(ValueError, match="corrupted skanomaly model file: unreadable arrays.npz"):
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
def test_load_refuses_a_wrong_manifest(model_file, manifest, match):
    with pytest.raises(ValueError, match=match):
        skanomaly.load(_rewrite(model_file, manifest=manifest))


def test_load_refuses_damaged_files(model_file, tmp_path):
    (tmp_path / "random.skan").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a zip archive"):
        skanomaly.load(tmp_path / "random.skan")

    changed = _rewrite(model_file, members={"weights.pt": b"junk"}, fix_digests=False)
    with pytest.raises(ValueError, match="weights.pt does not match its digest"):
        skanomaly.load(changed)

    with zipfile.ZipFile(tmp_path / "no-json.skan", "w") as archive:
        archive.writestr("manifest.json", b"\x80 not json")
    with pytest.raises(ValueError, match="unreadable manifest.json"):
        skanomaly.load(tmp_path / "no-json.skan")


def test_load_warns_on_version_mismatch(model_file, fitted):
    path = _rewrite(model_file, manifest={"versions": {"skanomaly": "0.0.1", "torch": "1.0"}})
    with pytest.warns(VersionMismatchWarning, match="skanomaly '0.0.1'.*torch '1.0'"):
        restored = skanomaly.load(path)
    detector, X = fitted
    np.testing.assert_array_equal(restored.score_samples(X), detector.score_samples(X))
