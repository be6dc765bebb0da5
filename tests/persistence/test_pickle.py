"""joblib and pickle: exact round trips, and moving a detector off a GPU.

Pickling is the detector's own (``__getstate__`` / ``__setstate__``): the
networks travel on the CPU and come back on a device this machine has.
"""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pytest
import torch

from skanomaly.exceptions import DeviceWarning

from ..conftest import available_device, fast, networks
from .conftest import assert_same_model, on_cpu


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


def test_gpu_trained_pickle_loads_on_cpu_only_machine(fitted, cpu_only):
    # What __getstate__ writes on a GPU machine: CPU tensors, device_ "cuda".
    detector, X = fitted
    detector = on_cpu(detector)
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
