"""ONNX export: the exported graph scores as the estimator does, in onnxruntime.

Tolerances (a float32 graph against the estimator's float64 output of its
float32 networks): anomaly scores ``rtol=1e-4, atol=1e-6``; anomaly maps,
which are in input units, ``rtol=1e-4, atol=1e-6 * max|X|`` (a few float32
roundings of the input's values). Measured: scores within 7e-6 absolute,
4e-6 relative; maps within 9e-6 on tabular data of magnitude 25.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import skanomaly
from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector, export_onnx
from skanomaly.cli import main

from .conftest import fast

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SCORE_TOL = {"rtol": 1e-4, "atol": 1e-6}
MAP_RTOL, MAP_ATOL_PER_UNIT = 1e-4, 1e-6


def run_onnx(path, X):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    score, anomaly_map = session.run(None, {"X": np.asarray(X, dtype=np.float32)})
    return score, anomaly_map


def assert_scores_like_estimator(path, detector, X):
    """Batches of one, a few, and more rows than one scoring chunk of the estimator."""
    X = np.asarray(X, dtype=np.float32)
    for rows in (X[:1], X[:7], X):
        score, anomaly_map = run_onnx(path, rows)
        assert score.shape == (len(rows),) and anomaly_map.shape == rows.shape
        np.testing.assert_allclose(score, -detector.score_samples(rows), **SCORE_TOL)
        np.testing.assert_allclose(
            anomaly_map,
            detector.anomaly_map(rows),
            rtol=MAP_RTOL,
            atol=MAP_ATOL_PER_UNIT * np.abs(X).max(),
        )


@pytest.fixture(scope="module")
def tabular():
    """Rows far from zero mean and unit scale, so the graph's own scaling matters."""
    rng = np.random.default_rng(0)
    X_train = 10 + 3 * rng.normal(size=(120, 6))
    X_test = np.vstack([10 + 3 * rng.normal(size=(280, 6)), rng.uniform(-5, 25, size=(20, 6))])
    return X_train, X_test


@pytest.mark.parametrize("anomaly_score", ["latent", "combined"])
def test_tabular_ganomaly(anomaly_score, tabular, tmp_path):
    X_train, X_test = tabular
    detector = fast(GANomalyDetector, anomaly_score=anomaly_score).fit(X_train)
    path = export_onnx(detector, tmp_path / "model.onnx")
    assert path == tmp_path / "model.onnx"
    assert_scores_like_estimator(path, detector, X_test)


def test_tabular_egbad(tabular, tmp_path):
    X_train, X_test = tabular
    detector = fast(EGBADDetector).fit(X_train)
    path = export_onnx(detector, str(tmp_path / "model.onnx"), opset=21)
    assert_scores_like_estimator(path, detector, X_test)
    # A valid graph in the opset asked for, with the threshold of ``predict``.
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {entry.domain: entry.version for entry in model.opset_import}[""] == 21
    metadata = {p.key: p.value for p in model.metadata_props}
    assert metadata["detector"] == "EGBADDetector"
    assert float(metadata["threshold"]) == -detector.offset_
    assert json.loads(metadata["input_shape"]) == ["n", 6]
    score, _ = run_onnx(path, X_test)
    flagged = score > float(metadata["threshold"])
    np.testing.assert_array_equal(np.where(flagged, -1, 1), detector.predict(X_test))


def test_image_ganomaly_rgb_not_square(tmp_path):
    # 10x12 RGB: the networks pad to a square inside and crop the map back.
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, size=(90, 3, 10, 12))
    detector = fast(GANomalyDetector, anomaly_score="reconstruction", n_filters=4)
    detector.fit(images[:40])
    path = export_onnx(detector, tmp_path / "model.onnx")
    assert_scores_like_estimator(path, detector, images)  # 90 rows: more than one chunk of 64


def test_cli_export_round_trip(digits_images, tmp_path, capsys):
    images, digit = digits_images
    detector = fast(EGBADDetector, disc_score="cross_entropy", n_filters=4)
    detector.fit(images[digit == 0][:60])
    model_path = tmp_path / "model.skan"
    skanomaly.save(detector, model_path)
    out = tmp_path / "out" / "model.onnx"
    out.parent.mkdir()
    assert main(["export", str(model_path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "float32 of shape (n, 1, 8, 8)" in printed
    # The loaded copy is the model that was exported; it scores as the original.
    assert_scores_like_estimator(out, detector, images[:80])
    assert os.listdir(out.parent) == ["model.onnx"]  # no temporary file left behind


def test_anogan_is_refused(fitted_tabular, tmp_path, capsys):
    detector = fitted_tabular[AnoGANDetector]
    with pytest.raises(ValueError, match="AnoGANDetector cannot be exported") as error:
        export_onnx(detector, tmp_path / "model.onnx")
    assert "\n" not in str(error.value)
    model_path = tmp_path / "anogan.skan"
    skanomaly.save(detector, model_path)
    assert main(["export", str(model_path), str(tmp_path / "model.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a forward pass" in err
    assert not (tmp_path / "model.onnx").exists()


def test_bad_arguments(fitted_tabular, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        export_onnx(GANomalyDetector(), tmp_path / "model.onnx")
    with pytest.raises(TypeError, match="EGBADDetector or GANomalyDetector"):
        export_onnx(object(), tmp_path / "model.onnx")
    detector = fitted_tabular[GANomalyDetector]
    with pytest.raises(TypeError, match="opset"):
        export_onnx(detector, tmp_path / "model.onnx", opset="18")
    with pytest.raises(ValueError, match="opset must be 18 or later"):
        export_onnx(detector, tmp_path / "model.onnx", opset=17)
    assert main(["export", str(tmp_path / "missing.skan"), str(tmp_path / "m.onnx")]) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "cls, n_estimators",
    [(GANomalyDetector, 1), (GANomalyDetector, "auto"), (EGBADDetector, 1)],
)
def test_features_far_from_zero_keep_their_digits(cls, n_estimators, tmp_path):
    # A mean of 5e6 and a spread of 1: a float32 shift is off by up to 0.25,
    # a quarter of a spread (relative score errors of 0.1 to 26 before).
    rng = np.random.default_rng(0)
    X = (5e6 + rng.normal(size=(300, 6)) * [1, 2, 0.5, 3, 1, 10]).astype(np.float32)
    detector = fast(cls, n_estimators=n_estimators).fit(X[:200])
    path = export_onnx(detector, tmp_path / "model.onnx")
    score, anomaly_map = run_onnx(path, X)
    np.testing.assert_allclose(score, -detector.score_samples(X), rtol=1e-4)
    np.testing.assert_allclose(anomaly_map, detector.anomaly_map(X), rtol=1e-4, atol=1e-5)


def test_a_nan_feature_gives_a_nan_score(tabular, digits_images, tmp_path):
    X_train, X_test = tabular
    rows = X_test[:4].astype(np.float32)
    rows[1, 2] = rows[3] = np.nan
    images = digits_images[0][:40].astype(np.float32)
    image_rows = images[:3].copy()
    image_rows[1, 0, 4, 4] = np.nan
    for detector, X in (
        (fast(GANomalyDetector).fit(X_train), rows),
        (fast(EGBADDetector, n_filters=4).fit(images), image_rows),
    ):
        path = export_onnx(detector, tmp_path / "model.onnx")
        score, anomaly_map = run_onnx(path, X)
        missing = np.isnan(X.reshape(len(X), -1)).any(1)
        assert np.all(np.isnan(score[missing])) and np.all(np.isfinite(score[~missing]))
        assert np.all(np.isnan(anomaly_map[np.isnan(X)]))
        assert np.all(np.isfinite(anomaly_map[~missing]))
        with pytest.raises(ValueError, match="NaN"):  # as score_samples refuses it
            detector.score_samples(X)
