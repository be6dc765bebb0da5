"""``skanomaly.save`` / ``skanomaly.load`` round trips: the same model back, exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skanomaly
from skanomaly.exceptions import DeviceWarning, ModelFileError

from ..conftest import fast
from .conftest import assert_same_model, on_cpu


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
    detector = on_cpu(detector)
    detector.device_ = "cuda:0"
    skanomaly.save(detector, tmp_path / "model.skan")
    detector.device_ = "cpu"
    with pytest.warns(DeviceWarning, match="trained on 'cuda:0'.*loaded on 'cpu'"):
        restored = skanomaly.load(tmp_path / "model.skan")
    assert restored.device_ == "cpu"
    assert_same_model(restored, detector, X)


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
