"""The command checks what it can before the work starts, and says it in one line."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

import skanomaly
from skanomaly import GANomalyDetector
from skanomaly.cli import main
from skanomaly.datasets import write_image_folder

from .conftest import TINY_CLI, fails_with_one_line, fast


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(12, 8, 8), dtype=np.uint8)
    return write_image_folder(
        tmp_path_factory.mktemp("checks") / "data", X, X[:6], [0] * 3 + [1] * 3
    )


def _train(data_dir, output, *extra):
    return [
        "train",
        str(data_dir),
        "--detector",
        "ganomaly",
        "--output",
        str(output),
        *TINY_CLI,
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, pattern",
    [
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--batch-size", "1"], "--batch-size must be at least 2"),
        (["--contamination", "2"], "--contamination must be in"),
        (["--n-filters", "0"], "--n-filters must be"),
        (["--latent-dim", "-3"], "--latent-dim must be"),
        (["--device", "bogus"], "--device: device='bogus' is not a valid torch device"),
    ],
)
def test_train_flags_are_named_and_checked_first(extra, pattern, data_dir, tmp_path, capsys):
    out = fails_with_one_line(capsys, _train(data_dir, tmp_path / "m.skan", *extra), pattern)
    assert "Training" not in out


def test_unwritable_output_is_reported_before_training(data_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    out = fails_with_one_line(
        capsys, _train(data_dir, tmp_path / "file" / "m.skan"), "cannot write the model"
    )
    assert "Training" not in out
    out = fails_with_one_line(
        capsys, _train(data_dir, tmp_path), "is a folder; give the model file's name"
    )
    assert "Training" not in out


@pytest.mark.parametrize("top_k", ["0", "-1"])
def test_top_k_is_checked_before_scoring(top_k, model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "report"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--top-k", top_k]
    out = fails_with_one_line(capsys, argv, f"--top-k must be at least 1, got {top_k}")
    assert "Scored" not in out and not report.exists()


def test_unwritable_report_folder_is_reported_before_scoring(
    model_file, data_dir, tmp_path, capsys
):
    (tmp_path / "file").write_text("x")
    argv = ["score", str(model_file), str(data_dir), "--output", str(tmp_path / "file" / "r")]
    out = fails_with_one_line(capsys, argv, "cannot write the report")
    assert "Scored" not in out


@pytest.mark.parametrize("n_images", ["0", "-2"])
def test_demo_n_images_is_checked(n_images, tmp_path, capsys):
    argv = ["demo", "--n-images", n_images, "--output", str(tmp_path / "d"), "--epochs", "1"]
    out = fails_with_one_line(capsys, argv, "--n-images must be in \\[1, 20\\]")
    assert "training on" not in out


def test_non_utf8_file_names_are_reported(model_file, tmp_path, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in (b"plain.png", b"caf\xe9.png"):  # Latin-1 bytes: not UTF-8
        Image.new("L", (8, 8), 90).save(os.path.join(os.fsencode(folder), name))
    report = tmp_path / "report"
    assert (
        main(["score", str(model_file), str(folder), "--output", str(report), "--top-k", "2"]) == 0
    )
    capsys.readouterr()
    with open(report / "scores.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(os.path.basename(r["path"]) for r in rows) == ["caf\\udce9.png", "plain.png"]
    assert not [p for p in report.iterdir() if p.name.startswith(".")]


def test_ok_ng_folders_and_class_flags(model_file, tmp_path, capsys):
    rng = np.random.default_rng(1)
    for name in ("OK", "NG", "sample"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png"
            )
    # The report folder inside the data folder: not mistaken for a class folder.
    report = str(tmp_path / "r")
    args = ["score", str(model_file), str(tmp_path), "--output", report, "--top-k", "2"]
    assert main(args) == 0
    assert "ROC-AUC" in capsys.readouterr().out
    with open(tmp_path / "r" / "scores.csv") as handle:
        truth = {r["path"].split(os.sep)[-2]: r["true_anomaly"] for r in csv.DictReader(handle)}
    assert truth == {"NG": "1", "OK": "0", "sample": "1"}

    shutil.rmtree(report)  # it holds pictures now: the next runs report elsewhere
    args[4] = report = str(tmp_path.parent / f"{tmp_path.name}-report")
    assert main([*args, "--normal-class", "sample", "--normal-class", "OK"]) == 0
    with open(os.path.join(report, "scores.csv")) as handle:
        truth = {r["path"].split(os.sep)[-2]: r["true_anomaly"] for r in csv.DictReader(handle)}
    assert truth == {"NG": "1", "OK": "0", "sample": "0"}
    assert main([*args, "--anomalous-class", "sample"]) == 0
    capsys.readouterr()
    fails_with_one_line(
        capsys, [*args, "--normal-class", "missing"], "normal class 'missing' is not a class"
    )


def _retouch(path, new_path, *, metadata=None, fitted=None):
    with zipfile.ZipFile(path) as archive:
        contents = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(contents.pop("manifest.json"))
    manifest["metadata"].update(metadata or {})
    manifest["fitted"].update(fitted or {})
    manifest["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    with zipfile.ZipFile(new_path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        for name, data in contents.items():
            archive.writestr(name, data)
    return new_path


def test_crafted_metadata_and_nan_models_are_refused(model_file, data_dir, tmp_path, capsys):
    big = _retouch(model_file, tmp_path / "big.skan", metadata={"image_size": [30000, 30000]})
    fails_with_one_line(
        capsys,
        ["score", str(big), str(data_dir), "--output", str(tmp_path / "r")],
        "image_size \\[30000, 30000\\] in its metadata, but the model takes 8x8",
    )
    nan = _retouch(model_file, tmp_path / "nan.skan", fitted={"offset_": {"float": "nan"}})
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


def test_huge_and_padded_images_are_refused_before_training(tmp_path, capsys):
    strip = tmp_path / "strip"
    strip.mkdir()
    for i in range(2):
        Image.new("L", (4096, 8), 40 * i).save(strip / f"{i}.png")
    out = fails_with_one_line(
        capsys,
        _train(strip, tmp_path / "m.skan", "--n-filters", "64"),
        r"8x4096 pixels are padded to 4096x4096 .* GiB.*--image-size",
    )
    # Refused in fit, before the networks are built (they would need terabytes).
    assert "Trained" not in out and not (tmp_path / "m.skan").exists()


def test_fit_refuses_images_whose_networks_cannot_fit():
    with pytest.raises(ValueError, match=r"padded to 4096x4096.*image_size"):
        fast(GANomalyDetector).fit(np.zeros((4, 1, 8, 4096)))


def test_train_output_is_a_valid_model_even_if_it_existed(model_file, data_dir, tmp_path, capsys):
    target = tmp_path / "m.skan"
    target.write_bytes(b"an older file")
    assert main(_train(data_dir, target)) == 0
    capsys.readouterr()
    assert skanomaly.load(target).image_shape_ == (1, 8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["m.skan"]


def test_huge_image_is_one_line_even_with_image_size(tmp_path, capsys):
    from .test_image_folders import _png

    folder = tmp_path / "huge"
    folder.mkdir()
    _png(folder / "big.png", np.zeros((1, 1)), width=20000, height=20000, data=b"")
    argv = _train(folder, tmp_path / "m.skan", "--image-size", "32")
    fails_with_one_line(
        capsys, argv, "big.png is larger than skanomaly reads .* downscale it first"
    )
