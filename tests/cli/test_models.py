"""Model files: what ``score`` refuses to read, in one line."""

from __future__ import annotations

import hashlib
import json

import joblib
import numpy as np
import pytest

import skanomaly
from skanomaly.cli import DETECTORS, load_model, main
from skanomaly.persistence import read_metadata

from ..conftest import fails_with_one_line, rewrite_model_file


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
    fails_with_one_line(capsys, argv, "not a skanomaly model|tabular data")


def test_error_missing_model_file(data_dir, tmp_path, capsys):
    argv = ["score", str(tmp_path / "none.skan"), str(data_dir), "--output", str(tmp_path)]
    fails_with_one_line(capsys, argv, "model file .* does not exist")


def test_crafted_metadata_and_nan_models_are_refused(model_file, data_dir, tmp_path, capsys):
    big = rewrite_model_file(
        model_file, tmp_path / "big.skan", metadata={"image_size": [30000, 30000]}
    )
    fails_with_one_line(
        capsys,
        ["score", str(big), str(data_dir), "--output", str(tmp_path / "r")],
        "image_size \\[30000, 30000\\] in its metadata, but the model takes 8x8",
    )
    nan = rewrite_model_file(
        model_file, tmp_path / "nan.skan", fitted={"offset_": {"float": "nan"}}
    )
    out = fails_with_one_line(
        capsys,
        ["score", str(nan), str(data_dir), "--output", str(tmp_path / "r")],
        "offset_ is nan",
    )
    assert "flagged" not in out


def test_damaged_model_file_is_one_line(model_file, data_dir, tmp_path, capsys):
    cut = tmp_path / "cut.skan"
    cut.write_bytes(model_file.read_bytes()[:1085])
    fails_with_one_line(
        capsys, ["score", str(cut), str(data_dir), "--output", str(tmp_path / "r")], "damaged"
    )


@pytest.mark.parametrize("size", [0, 100, 1085, 4000])
def test_damaged_model_file_is_named_once(size, model_file, data_dir, tmp_path, capsys):
    cut = tmp_path / "cut.skan"
    cut.write_bytes(model_file.read_bytes()[:size])
    argv = ["score", str(cut), str(data_dir), "--output", str(tmp_path / "r")]
    fails_with_one_line(capsys, argv, "skanomaly model file")
    capsys.readouterr()
    main(argv)
    err = capsys.readouterr().err
    assert err.count(str(cut)) == 1 and err.count("skanomaly model file") == 1, err


def test_model_file_is_read_through_one_handle(model_file, monkeypatch):
    # Digest, metadata and model from one open file: a model saved over the
    # path meanwhile (save replaces the file whole) cannot mix into the read.
    real_open, opened = open, []

    def counting_open(file, *args, **kwargs):
        if str(file) == str(model_file):
            opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting_open)
    bundle = load_model(model_file)
    assert len(opened) == 1
    assert bundle["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert bundle["detector"].offset_ == skanomaly.load(model_file).offset_


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
def test_tampered_training_scores_are_refused_in_one_line(
    scores, model_file, data_dir, tmp_path, capsys
):
    crafted = rewrite_model_file(
        model_file, tmp_path / "t.skan", metadata={"training_anomaly_scores": scores}
    )
    # Quantile thresholds are taken of these scores: a traceback or -inf before.
    argv = ["score", str(crafted), str(data_dir), "--output", str(tmp_path / "r"), "--quiet"]
    fails_with_one_line(capsys, [*argv, "--contamination", "0.2"], "training_anomaly_scores")
    # The library returns metadata as saved; the command checks what it uses.
    assert read_metadata(crafted)["training_anomaly_scores"] == scores


def test_valid_training_scores_still_set_quantile_thresholds(
    model_file, data_dir, tmp_path, capsys
):
    crafted = rewrite_model_file(
        model_file, tmp_path / "t.skan", metadata={"training_anomaly_scores": [1, 2.5, 3]}
    )
    report = tmp_path / "r"
    argv = ["score", str(crafted), str(data_dir), "--output", str(report), "--quiet"]
    assert main([*argv, "--threshold", "q0.5"]) == 0
    assert json.loads((report / "metrics.json").read_text())["threshold"] == 2.5
