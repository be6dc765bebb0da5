"""The ``skanomaly`` command end to end on tiny image folders."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

import skanomaly
from skanomaly.cli import DETECTORS, CommandError, load_model, main
from skanomaly.datasets import write_image_folder

# Fast settings: a model trains in about a second.
TINY = ["--epochs", "1", "--n-filters", "4", "--batch-size", "8", "--quiet"]


def _blobs(rng, n, bright):
    """8x8 grey images: a dark background with a bright square (normal) or noise."""
    images = rng.integers(0, 40, size=(n, 8, 8)).astype(np.uint8)
    if bright:
        images[:, 2:6, 2:6] = 220
    return images


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    X_test = np.r_[_blobs(rng, 6, True), _blobs(rng, 6, False)]
    y_test = np.r_[np.zeros(6, int), np.ones(6, int)]
    return write_image_folder(
        tmp_path_factory.mktemp("cli") / "data", _blobs(rng, 24, True), X_test, y_test
    )


@pytest.fixture(scope="module")
def model_file(data_dir):
    path = data_dir.parent / "model.skan"
    assert (
        main(["train", str(data_dir), "--detector", "ganomaly", "--output", str(path), *TINY]) == 0
    )
    return path


def _fails_with_one_line(capsys, argv, pattern):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("skanomaly: error: ")
    assert "Traceback" not in err
    assert re.search(pattern, err), err


def test_detectors_mapping_lists_the_exported_detectors():
    import skanomaly

    assert DETECTORS["ganomaly"] is skanomaly.GANomalyDetector
    for name, cls in DETECTORS.items():
        assert cls.__name__.lower().startswith(name)


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["score"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: skanomaly" in capsys.readouterr().out


def test_train_saves_a_fitted_model(model_file, data_dir, capsys):
    bundle = load_model(model_file)
    detector = bundle["detector"]
    assert type(detector) is DETECTORS["ganomaly"]
    assert detector.image_shape_ == (1, 8, 8) and detector.n_epochs_ == 1
    assert bundle["grayscale"] is True and bundle["image_size"] is None
    assert bundle["train_dir"] == str(data_dir / "train")


def test_train_then_score_writes_the_report(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "report"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--top-k", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out

    with open(report / "scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "anomaly_score", "predicted_anomaly", "true_anomaly"]
    assert len(rows) == 12
    assert all(Path(r["path"]).is_file() for r in rows)
    labels = [int(r["true_anomaly"]) for r in rows]
    assert labels == [0] * 6 + [1] * 6
    assert {r["predicted_anomaly"] for r in rows} <= {"0", "1"}

    # the printed AUC is the one of the CSV's scores
    scores = [float(r["anomaly_score"]) for r in rows]
    printed = float(re.search(r"ROC-AUC (\d\.\d+)", out).group(1))
    assert printed == pytest.approx(roc_auc_score(labels, scores), abs=1e-4)
    assert "average precision" in out

    for name in ("top_anomalies", "top_anomalies_grid", "score_histogram", "training_history"):
        with Image.open(report / f"{name}.png") as image:
            assert image.width > 100 and image.height > 50


def test_score_flat_folder_without_labels(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "report"
    folder = data_dir / "test" / "1.abnormal"  # a plain folder of images
    assert main(["score", str(model_file), str(folder), "--output", str(report)]) == 0
    out = capsys.readouterr().out
    assert "ROC-AUC" not in out
    with open(report / "scores.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and all(r["true_anomaly"] == "" for r in rows)


def test_train_with_resize_is_repeated_at_scoring(data_dir, tmp_path, capsys):
    model = tmp_path / "resized.skan"
    argv = ["train", str(data_dir), "--detector", "ganomaly", "--output", str(model)]
    assert main([*argv, "--image-size", "12x10", *TINY]) == 0
    assert load_model(model)["image_size"] == (12, 10)
    assert skanomaly.load(model).image_shape_ == (1, 12, 10)
    assert main(["score", str(model), str(data_dir), "--output", str(tmp_path / "r")]) == 0


def test_demo_runs(tmp_path, capsys):
    argv = ["demo", "--output", str(tmp_path), "--epochs", "1", "--n-filters", "4"]
    assert main([*argv, "--detectors", "ganomaly", "--n-images", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"GANomalyDetector\s+\d\.\d{3}\s+\d\.\d{3}", out)
    assert (tmp_path / "demo_ganomaly.png").is_file()


def test_python_dash_m_skanomaly():
    result = subprocess.run(
        [sys.executable, "-m", "skanomaly", "--version"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import skanomaly

    assert result.stdout.strip() == skanomaly.__version__


# ----------------------------------------------------------------------
# Errors: one line, exit status 1
# ----------------------------------------------------------------------
def test_error_missing_folder(model_file, tmp_path, capsys):
    missing = str(tmp_path / "nope")
    _fails_with_one_line(
        capsys, ["train", missing, "--detector", "ganomaly", "--output", "m"], "does not exist"
    )
    _fails_with_one_line(
        capsys, ["score", str(model_file), missing, "--output", str(tmp_path)], "does not exist"
    )


def test_error_empty_folder(tmp_path, capsys):
    (tmp_path / "train" / "good").mkdir(parents=True)
    argv = ["train", str(tmp_path), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    _fails_with_one_line(capsys, argv, "good")
    (tmp_path / "flat").mkdir()
    argv[1] = str(tmp_path / "flat")
    _fails_with_one_line(capsys, argv, "no images in")


def test_error_unreadable_image(data_dir, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "ok.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    _fails_with_one_line(capsys, argv, r"cannot read image .*corrupt\.png")


@pytest.mark.parametrize("content", ["text", "pickled dict", "pickled model", "tabular model"])
def test_error_not_a_skanomaly_model(content, data_dir, tmp_path, capsys):
    path = tmp_path / "model.skan"
    if content == "text":
        path.write_text("definitely not a model\n")
    elif content == "pickled dict":
        joblib.dump({"weights": [1, 2, 3]}, path)
    else:
        rng = np.random.default_rng(0)
        detector = DETECTORS["ganomaly"](n_epochs=1, random_state=0).fit(rng.normal(size=(20, 3)))
        if content == "pickled model":  # pickles are refused: loading them could run code
            joblib.dump(detector, path)
        else:
            skanomaly.save(detector, path)
    argv = ["score", str(path), str(data_dir), "--output", str(tmp_path / "r")]
    _fails_with_one_line(capsys, argv, "not a skanomaly model|tabular data")


def test_error_missing_model_file(data_dir, tmp_path, capsys):
    argv = ["score", str(tmp_path / "none.skan"), str(data_dir), "--output", str(tmp_path)]
    _fails_with_one_line(capsys, argv, "model file .* does not exist")


def test_error_image_size_mismatch(model_file, tmp_path, capsys):
    folder = tmp_path / "big"
    folder.mkdir()
    for i in range(2):
        Image.new("L", (16, 16), 50 * i).save(folder / f"{i}.png")
    argv = ["score", str(model_file), str(folder), "--output", str(tmp_path / "r")]
    _fails_with_one_line(capsys, argv, r"image size mismatch: .* 16x16 .* 8x8")


def test_error_mixed_sizes_and_bad_parameters(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (10, 8)).save(folder / "b.png")
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    _fails_with_one_line(capsys, argv, "differ in size")
    _fails_with_one_line(capsys, [*argv, "--image-size", "8", "--epochs", "0"], "--epochs must be")


def test_traceback_flag_shows_the_exception(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        main(
            [
                "--traceback",
                "train",
                str(tmp_path / "no"),
                "--detector",
                "ganomaly",
                "--output",
                "m",
            ]
        )
