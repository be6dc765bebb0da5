"""``skanomaly train``: the model file, what it records, what is refused before training."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

import skanomaly
from skanomaly.cli import DETECTORS, load_model, main
from skanomaly.datasets import load_image_folder
from skanomaly.persistence import read_metadata

from ..conftest import TINY_CLI, fails_with_one_line, write_png
from .conftest import train_argv


def test_train_saves_a_fitted_model(model_file, data_dir, capsys):
    bundle = load_model(model_file)
    detector = bundle["detector"]
    assert type(detector) is DETECTORS["ganomaly"]
    assert detector.image_shape_ == (1, 8, 8) and detector.n_epochs_ == 1
    assert bundle["grayscale"] is True and bundle["image_size"] is None
    assert bundle["train_dir"] == str(data_dir / "train")


def test_train_with_resize_is_repeated_at_scoring(data_dir, tmp_path, capsys):
    model = tmp_path / "resized.skan"
    argv = ["train", str(data_dir), "--detector", "ganomaly", "--output", str(model)]
    assert main([*argv, "--image-size", "12x10", *TINY_CLI]) == 0
    assert load_model(model)["image_size"] == (12, 10)
    assert skanomaly.load(model).image_shape_ == (1, 12, 10)
    assert main(["score", str(model), str(data_dir), "--output", str(tmp_path / "r")]) == 0


def test_train_and_score_record_what_produced_them(mvtec_model, mvtec_dir, tmp_path, capsys):
    run = read_metadata(mvtec_model)["run"]
    assert run["command"][:3] == ["skanomaly", "train", str(mvtec_dir)]
    assert set(run["versions"]) >= {"skanomaly", "torch", "sklearn"}
    assert run["versions"]["skanomaly"] == skanomaly.__version__
    assert run["detector"] == "GANomalyDetector"
    assert run["parameters"]["n_epochs"] == 1 and run["parameters"]["n_filters"] == 4
    assert run["metrics"]["n_images"] == 24 and run["metrics"]["n_epochs"] == 1
    assert set(run["metrics"]["final_losses"]) == set(skanomaly.load(mvtec_model).history_)

    report = tmp_path / "report"
    argv = ["score", str(mvtec_model), str(mvtec_dir), "--output", str(report), "--quiet"]
    assert main(argv) == 0
    record = json.loads((report / "run.json").read_text())
    assert record["command"] == ["skanomaly", *argv]
    assert record["model"]["sha256"] == hashlib.sha256(mvtec_model.read_bytes()).hexdigest()
    assert record["model"]["run"] == run  # the report leads back to the training run
    assert record["model"]["parameters"]["n_filters"] == 4
    assert record["metrics"] == json.loads((report / "metrics.json").read_text())


def test_unwritable_output_is_reported_before_training(data_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    out = fails_with_one_line(
        capsys, train_argv(data_dir, tmp_path / "file" / "m.skan"), "cannot write the model"
    )
    assert "Training" not in out
    out = fails_with_one_line(
        capsys, train_argv(data_dir, tmp_path), "is a folder; give the model file's name"
    )
    assert "Training" not in out


def test_huge_and_padded_images_are_refused_before_training(tmp_path, capsys):
    strip = tmp_path / "strip"
    strip.mkdir()
    for i in range(2):
        Image.new("L", (4096, 8), 40 * i).save(strip / f"{i}.png")
    out = fails_with_one_line(
        capsys,
        train_argv(strip, tmp_path / "m.skan", "--n-filters", "64"),
        r"8x4096 pixels are padded to 4096x4096 .* GiB.*--image-size",
    )
    # Refused in fit, before the networks are built (they would need terabytes).
    assert "Trained" not in out and not (tmp_path / "m.skan").exists()


def test_train_output_is_a_valid_model_even_if_it_existed(model_file, data_dir, tmp_path, capsys):
    target = tmp_path / "m.skan"
    target.write_bytes(b"an older file")
    assert main(train_argv(data_dir, target)) == 0
    capsys.readouterr()
    assert skanomaly.load(target).image_shape_ == (1, 8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["m.skan"]


def test_huge_image_is_one_line_even_with_image_size(tmp_path, capsys):
    folder = tmp_path / "huge"
    folder.mkdir()
    write_png(folder / "big.png", np.zeros((1, 1)), width=20000, height=20000, data=b"")
    argv = train_argv(folder, tmp_path / "m.skan", "--image-size", "32")
    fails_with_one_line(
        capsys, argv, "big.png is larger than skanomaly reads .* downscale it first"
    )


@pytest.mark.parametrize("name", ["ganomaly", "anogan"])
def test_training_scores_in_the_model_file_are_the_fitted_ones(name, data_dir, tmp_path, capsys):
    # The CLI streams the images from disk; fit on the same images in memory
    # gives the same model, so the same training scores, bit for bit.
    extra = ["--latent-steps", "5"] if name == "anogan" else []
    path = tmp_path / "m.skan"
    assert main([*train_argv(data_dir, path, *extra, detector=name), "--device", "cpu"]) == 0
    stored = read_metadata(path)["training_anomaly_scores"]
    params = {"n_epochs": 1, "n_filters": 4, "batch_size": 8, "random_state": 0, "device": "cpu"}
    detector = DETECTORS[name](**params, **({"latent_steps": 5} if extra else {}), verbose=0)
    detector.fit(load_image_folder(data_dir / "train").images)
    assert stored == [float(v) for v in detector.decision_scores_]
