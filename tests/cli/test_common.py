"""What the commands share: data folders, class folders and the class flags."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
from PIL import Image

from skanomaly.cli import main

from ..conftest import fails_with_one_line


def test_error_missing_folder(model_file, tmp_path, capsys):
    missing = str(tmp_path / "nope")
    fails_with_one_line(
        capsys, ["train", missing, "--detector", "ganomaly", "--output", "m"], "does not exist"
    )
    fails_with_one_line(
        capsys, ["score", str(model_file), missing, "--output", str(tmp_path)], "does not exist"
    )


def test_error_empty_folder(tmp_path, capsys):
    (tmp_path / "train" / "good").mkdir(parents=True)
    argv = ["train", str(tmp_path), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    fails_with_one_line(capsys, argv, "good")
    (tmp_path / "flat").mkdir()
    argv[1] = str(tmp_path / "flat")
    fails_with_one_line(capsys, argv, "no images in")


def test_error_unreadable_image(data_dir, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "ok.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    fails_with_one_line(capsys, argv, r"cannot read image .*corrupt\.png")


def test_error_mixed_sizes(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (10, 8)).save(folder / "b.png")
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    fails_with_one_line(capsys, argv, "differ in size")


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
