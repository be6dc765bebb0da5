"""The ``skanomaly`` command end to end on tiny image folders."""

from __future__ import annotations

import argparse
import csv
import errno
import hashlib
import json
import os
import re
import shutil
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
from skanomaly.datasets import (
    load_image_folder,
    make_synthetic_defects,
    write_image_folder,
    write_mvtec_folder,
)
from skanomaly.metrics import aupro, pixel_roc_auc
from skanomaly.persistence import read_metadata
from skanomaly.plot import MASK_COLOUR

from .conftest import (
    TINY_CLI,
    _demo_params,
    _detector_from_args,
    fails_with_one_line,
    rewrite_model_file,
    train_with_cli,
    write_png,
)


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
    assert main([*argv, "--image-size", "12x10", *TINY_CLI]) == 0
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


def _png_folder(folder, size, n=2):
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size, dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_score_resizes_images_to_the_model_size_and_says_so(model_file, tmp_path, capsys):
    folder = _png_folder(tmp_path / "big", (16, 12))
    report = tmp_path / "r"
    assert main(["score", str(model_file), str(folder), "--output", str(report), "--quiet"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: resized 2 of 2 images (e.g. 16x12) to the model's 8x8, changing their aspect "
        "ratio, as a model scores images of its own size only"
    ]
    resized = load_image_folder(folder, image_size=8)
    expected = -skanomaly.load(model_file).score_samples(resized.images)
    scores = [float(r["anomaly_score"]) for r in _scores_csv(report)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_score_at_the_model_size_resizes_nothing(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "r"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main(argv) == 0
    assert "note:" not in capsys.readouterr().err
    images = load_image_folder(data_dir / "test").images  # not resized
    expected = -skanomaly.load(model_file).score_samples(images)
    assert [r["anomaly_score"] for r in _scores_csv(report)] == [f"{v:.6g}" for v in expected]


def _options(command=None):
    """The option strings of the command line, or of one subcommand."""
    from skanomaly.cli import build_parser

    parser = build_parser()
    if command is not None:
        (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subparsers.choices[command]
    return set(parser._option_string_actions)


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def test_every_flag_named_in_the_command_source_exists():
    import ast

    import skanomaly.cli
    from skanomaly.cli import build_parser

    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    known = _options().union(*(_options(name) for name in subparsers.choices))
    tree = ast.parse(Path(skanomaly.cli.__file__).read_text())
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    named = {flag for text in texts for flag in FLAG.findall(text)}
    assert named and named <= known, named - known


@pytest.mark.parametrize(
    "case",
    ["other size", "swapped", "device", "top-k", "threshold", "missing model", "tabular model"],
)
def test_what_score_prints_names_only_its_own_options(
    case, model_file, data_dir, tmp_path, capsys
):
    # Every hint must be usable as it stands: an option of the command that printed it.
    report = str(tmp_path / "r")
    argv = ["score", str(model_file), str(data_dir), "--output", report, "--quiet"]
    if case == "other size":
        argv[2] = str(_png_folder(tmp_path / "big", (40, 40)))
    elif case == "swapped":
        argv[1:3] = argv[2:0:-1]
    elif case == "device":
        argv += ["--device", "nonsense"]
    elif case == "top-k":
        argv += ["--top-k", "0"]
    elif case == "threshold":
        argv += ["--threshold", "q2"]
    elif case == "missing model":
        argv[1] = str(tmp_path / "none.skan")
    else:
        path = tmp_path / "tabular.skan"
        rng = np.random.default_rng(0)
        skanomaly.save(DETECTORS["ganomaly"](n_epochs=1).fit(rng.normal(size=(20, 3))), path)
        argv[1] = str(path)
    try:
        main(argv)
    except SystemExit:  # argparse's own errors
        pass
    out, err = capsys.readouterr()
    assert set(FLAG.findall(out + err)) <= _options("score"), err


def test_error_mixed_sizes(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (8, 8)).save(folder / "a.png")
    Image.new("L", (10, 8)).save(folder / "b.png")
    argv = ["train", str(folder), "--detector", "ganomaly", "--output", str(tmp_path / "m")]
    fails_with_one_line(capsys, argv, "differ in size")


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


# ----------------------------------------------------------------------
# MVTec layout with masks: pixel metrics, pictures, heat maps
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mvtec_dir(tmp_path_factory):
    """8x8 blob images in the MVTec layout: 6 good and 8 synthetic defects with masks."""
    rng = np.random.default_rng(1)
    normal = _blobs(rng, 38, True)
    defects = make_synthetic_defects(normal[30:], random_state=0)
    X_test = np.r_[normal[24:30], defects.images]
    types = np.r_[["good"] * 6, defects.kinds]
    masks = np.r_[np.zeros((6, 8, 8), bool), defects.masks]
    root = tmp_path_factory.mktemp("mvtec") / "part"
    return write_mvtec_folder(root, normal[:24], X_test, types, masks)


@pytest.fixture(scope="module")
def mvtec_model(mvtec_dir):
    return train_with_cli(mvtec_dir)


def _scores_csv(report):
    with open(report / "scores.csv") as handle:
        return list(csv.DictReader(handle))


def test_score_mvtec_prints_and_writes_pixel_metrics(mvtec_model, mvtec_dir, tmp_path, capsys):
    report = tmp_path / "report"
    argv = ["score", str(mvtec_model), str(mvtec_dir), "--output", str(report), "--top-k", "6"]
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((report / "metrics.json").read_text())

    # The printed and written numbers are those of the detector's own maps.
    data = load_image_folder(mvtec_dir / "test", return_masks=True)
    maps = skanomaly.load(mvtec_model).anomaly_map(data.images)
    assert metrics["pixel"]["roc_auc"] == pytest.approx(pixel_roc_auc(data.masks, maps))
    assert metrics["pixel"]["aupro"] == pytest.approx(aupro(data.masks, maps, max_fpr=0.3))
    assert metrics["pixel"]["n_defect_pixels"] == data.masks.sum()
    printed = re.search(r"pixel ROC-AUC (\d\.\d+)\s+AUPRO (\d\.\d+)", out)
    assert float(printed.group(1)) == pytest.approx(metrics["pixel"]["roc_auc"], abs=1e-4)
    assert float(printed.group(2)) == pytest.approx(metrics["pixel"]["aupro"], abs=1e-4)
    rows = _scores_csv(report)
    labels = [int(r["true_anomaly"]) for r in rows]
    scores = [float(r["anomaly_score"]) for r in rows]
    assert metrics["image"]["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-4)
    assert metrics["n_images"] == 14 and metrics["n_flagged"] == sum(
        int(r["predicted_anomaly"]) for r in rows
    )

    # The grid outlines the defects of the top images in magenta.
    with Image.open(report / "top_anomalies_grid.png") as image:
        grid = np.asarray(image.convert("RGB"))
    magenta = np.all(grid == np.round(np.multiply(MASK_COLOUR, 255)), axis=-1)
    top = np.argsort(-np.array(scores), kind="stable")[:6]
    assert magenta.any() == bool(data.masks[top].any())
    assert not (report / "maps").exists()  # only with --maps


def test_score_maps_writes_one_heat_map_per_image(mvtec_model, mvtec_dir, tmp_path, capsys):
    report = tmp_path / "report"
    argv = ["score", str(mvtec_model), str(mvtec_dir), "--output", str(report), "--maps"]
    assert main([*argv, "--quiet"]) == 0
    # maps/<path under test/>.png: the input's whole name, its suffix included
    test_images = sorted(
        f"{p.relative_to(mvtec_dir / 'test')}.png" for p in mvtec_dir.glob("test/*/*")
    )
    written = sorted(str(p.relative_to(report / "maps")) for p in (report / "maps").rglob("*.png"))
    assert written == test_images
    data = load_image_folder(mvtec_dir / "test", return_masks=True)
    for path, mask in zip(data.paths, data.masks, strict=True):
        relative = Path(path).relative_to(mvtec_dir / "test")
        with Image.open(report / "maps" / f"{relative}.png") as image:
            assert image.size == (64, 64)  # 8x8 enlarged
            picture = np.asarray(image.convert("RGB"))
        outlined = np.all(picture == np.round(np.multiply(MASK_COLOUR, 255)), axis=-1)
        assert outlined.any() == mask.any()


def test_score_without_masks_writes_metrics_json(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "report"
    folder = data_dir / "test" / "1.abnormal"  # no labels, no masks
    assert main(["score", str(model_file), str(folder), "--output", str(report), "--quiet"]) == 0
    assert "pixel" not in capsys.readouterr().out
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["image"] is None and metrics["pixel"] is None and metrics["n_images"] == 6
    # Labels but no ground_truth/ folder: image metrics only.
    assert main(["score", str(model_file), str(data_dir), "--output", str(report)]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["image"]["n_anomalous"] == 6 and metrics["pixel"] is None


# ----------------------------------------------------------------------
# score: thresholds, batches, device
# ----------------------------------------------------------------------
def _flagged(report):
    rows = _scores_csv(report)
    return np.array([float(r["anomaly_score"]) for r in rows]), np.array(
        [int(r["predicted_anomaly"]) for r in rows]
    )


def test_score_threshold_and_contamination(model_file, data_dir, tmp_path, capsys):
    base = ["score", str(model_file), str(data_dir), "--quiet", "--output"]
    assert main([*base, str(tmp_path / "default")]) == 0
    scores, default = _flagged(tmp_path / "default")
    detector = skanomaly.load(model_file)
    np.testing.assert_array_equal(default, scores > -detector.offset_)

    # A score: flagged above it.
    cut = float(np.median(scores))
    assert main([*base, str(tmp_path / "t"), "--threshold", f"{cut!r}"]) == 0
    np.testing.assert_array_equal(_flagged(tmp_path / "t")[1], scores > cut)
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["threshold"] == cut and metrics["threshold_source"] == "--threshold"

    # A quantile of the training images' scores, kept in the model file.
    training = read_metadata(model_file)["training_anomaly_scores"]
    assert len(training) == 24
    assert main([*base, str(tmp_path / "q"), "--threshold", "q0.5"]) == 0
    metrics = json.loads((tmp_path / "q" / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(np.median(training))
    assert "training images" in metrics["threshold_source"]

    # --contamination C is the quantile 1 - C: the model's own C gives its threshold.
    assert main([*base, str(tmp_path / "c"), "--contamination", "0.1"]) == 0
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(-detector.offset_)
    np.testing.assert_array_equal(_flagged(tmp_path / "c")[1], default)
    assert main([*base, str(tmp_path / "c2"), "--contamination", "0.5"]) == 0
    metrics = json.loads((tmp_path / "c2" / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(np.median(training))


def test_score_quantile_without_training_scores_uses_the_scored_images(data_dir, tmp_path, capsys):
    # A model saved from Python holds no training scores.
    images = load_image_folder(data_dir / "train").images
    detector = DETECTORS["ganomaly"](n_epochs=1, n_filters=4, random_state=0).fit(images)
    path = tmp_path / "python.skan"
    skanomaly.save(detector, path)
    report = tmp_path / "r"
    argv = ["score", str(path), str(data_dir), "--output", str(report), "--threshold", "q0.75"]
    assert main([*argv, "--quiet"]) == 0
    scores, flagged = _flagged(report)
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["threshold"] == pytest.approx(np.percentile(scores, 75))
    assert "scored images" in metrics["threshold_source"] and flagged.sum() == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--threshold", "q1.5"], r"argument --threshold: .*q0\.95"),
        (["--threshold", "high"], "argument --threshold"),
        (["--contamination", "0.7"], r"argument --contamination: .*\(0, 0\.5\]"),
        (["--threshold", "1", "--contamination", "0.1"], "not allowed with argument"),
        (["--batch-size", "0"], "argument --batch-size"),
    ],
)
def test_score_flag_errors_name_the_flag(extra, message, model_file, data_dir, tmp_path, capsys):
    argv = ["score", str(model_file), str(data_dir), "--output", str(tmp_path), *extra]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_score_batch_size_does_not_change_scores(model_file, data_dir, tmp_path, capsys):
    base = ["score", str(model_file), str(data_dir), "--quiet", "--device", "cpu", "--output"]
    assert main([*base, str(tmp_path / "a"), "--batch-size", "1"]) == 0
    assert main([*base, str(tmp_path / "b"), "--batch-size", "64"]) == 0
    assert (tmp_path / "a" / "scores.csv").read_text() == (
        tmp_path / "b" / "scores.csv"
    ).read_text()


def test_score_device_error_names_the_flag(model_file, data_dir, tmp_path, capsys):
    argv = ["score", str(model_file), str(data_dir), "--output", str(tmp_path)]
    fails_with_one_line(capsys, [*argv, "--device", "nonsense"], r"--device.*'nonsense'")


# ----------------------------------------------------------------------
# train: learning rate, detector options, early stopping; errors name flags
# ----------------------------------------------------------------------
def _train_argv(data_dir, path, *extra, detector="ganomaly"):
    return [
        "train", str(data_dir), "--detector", detector, "--output", str(path), *TINY_CLI, *extra
    ]  # fmt: skip


def test_train_detector_options_reach_the_model(data_dir, tmp_path, capsys):
    path = tmp_path / "a.skan"
    assert main([*_train_argv(data_dir, path, detector="anogan"), "--latent-steps", "3",
                 "--learning-rate", "1e-3"]) == 0  # fmt: skip
    params = skanomaly.load(path).get_params()
    assert params["latent_steps"] == 3 and params["learning_rate"] == 1e-3

    path = tmp_path / "g.skan"
    argv = [*_train_argv(data_dir, path), "--anomaly-score", "reconstruction", "--epochs", "3"]
    assert main([*argv, "--early-stopping", "--validation-fraction", "0.25",
                 "--n-iter-no-change", "1"]) == 0  # fmt: skip
    detector = skanomaly.load(path)
    assert detector.anomaly_score == "reconstruction"
    assert detector.early_stopping and detector.validation_fraction == 0.25
    assert detector.n_iter_no_change == 1

    path = tmp_path / "e.skan"
    assert (
        main([*_train_argv(data_dir, path, detector="egbad"), "--disc-score", "cross_entropy"])
        == 0
    )
    assert skanomaly.load(path).disc_score == "cross_entropy"


@pytest.mark.parametrize(
    "detector, extra, message",
    [
        ("ganomaly", ["--latent-steps", "5"], "--latent-steps applies to --detector anogan"),
        ("anogan", ["--anomaly-score", "combined"], "--anomaly-score applies to .*ganomaly"),
        ("ganomaly", ["--epochs", "0"], "--epochs must be at least 1, got 0"),
        ("ganomaly", ["--learning-rate", "-1"], "--learning-rate must be"),
        ("ganomaly", ["--batch-size", "0"], "--batch-size must be at least 2"),
        ("ganomaly", ["--batch-size", "1"], "--batch-size must be at least 2"),
        ("ganomaly", ["--contamination", "0.9"], "--contamination must be in"),
        ("ganomaly", ["--contamination", "2"], "--contamination must be in"),
        ("ganomaly", ["--n-filters", "0"], "--n-filters must be"),
        ("ganomaly", ["--latent-dim", "-3"], "--latent-dim must be"),
        ("ganomaly", ["--validation-fraction", "0.2"], "need --early-stopping"),
        ("ganomaly", ["--early-stopping", "--validation-fraction", "2"], "--validation-fraction"),
        ("ganomaly", ["--device", "nonsense"],
         r"--device: device='nonsense' is not a valid torch device"),
        # Too few images to hold out: reported at fit, still with the flags' names.
        ("ganomaly", ["--early-stopping", "--validation-fraction", "0.01"],
         "--early-stopping with --validation-fraction=0.01 leaves too few"),
    ],
)  # fmt: skip
def test_train_errors_name_the_flag(detector, extra, message, data_dir, tmp_path, capsys):
    argv = [*_train_argv(data_dir, tmp_path / "m.skan", detector=detector), *extra]
    out = fails_with_one_line(capsys, argv, message)
    assert not (tmp_path / "m.skan").exists()
    if "--early-stopping" not in extra:  # the others are checked before the work starts
        assert "Training" not in out


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


# ----------------------------------------------------------------------
# Checked before the work starts, and said in one line
# ----------------------------------------------------------------------
def test_unwritable_output_is_reported_before_training(data_dir, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    out = fails_with_one_line(
        capsys, _train_argv(data_dir, tmp_path / "file" / "m.skan"), "cannot write the model"
    )
    assert "Training" not in out
    out = fails_with_one_line(
        capsys, _train_argv(data_dir, tmp_path), "is a folder; give the model file's name"
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


def test_huge_and_padded_images_are_refused_before_training(tmp_path, capsys):
    strip = tmp_path / "strip"
    strip.mkdir()
    for i in range(2):
        Image.new("L", (4096, 8), 40 * i).save(strip / f"{i}.png")
    out = fails_with_one_line(
        capsys,
        _train_argv(strip, tmp_path / "m.skan", "--n-filters", "64"),
        r"8x4096 pixels are padded to 4096x4096 .* GiB.*--image-size",
    )
    # Refused in fit, before the networks are built (they would need terabytes).
    assert "Trained" not in out and not (tmp_path / "m.skan").exists()


def test_train_output_is_a_valid_model_even_if_it_existed(model_file, data_dir, tmp_path, capsys):
    target = tmp_path / "m.skan"
    target.write_bytes(b"an older file")
    assert main(_train_argv(data_dir, target)) == 0
    capsys.readouterr()
    assert skanomaly.load(target).image_shape_ == (1, 8, 8)
    assert [p.name for p in tmp_path.iterdir()] == ["m.skan"]


def test_huge_image_is_one_line_even_with_image_size(tmp_path, capsys):
    folder = tmp_path / "huge"
    folder.mkdir()
    write_png(folder / "big.png", np.zeros((1, 1)), width=20000, height=20000, data=b"")
    argv = _train_argv(folder, tmp_path / "m.skan", "--image-size", "32")
    fails_with_one_line(
        capsys, argv, "big.png is larger than skanomaly reads .* downscale it first"
    )


# ----------------------------------------------------------------------
# score: what the threshold does on labelled images
# ----------------------------------------------------------------------
def test_score_reports_precision_recall_f1_at_the_threshold(
    model_file, data_dir, tmp_path, capsys
):
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    report = tmp_path / "r"
    base = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main([*base, "--threshold", "q0.5"]) == 0
    median = float(np.median([float(r["anomaly_score"]) for r in _scores_csv(report)]))
    for threshold in ("q0.5", repr(median)):
        assert main([*base, "--threshold", threshold]) == 0
        out = capsys.readouterr().out
        rows = _scores_csv(report)
        y = [int(r["true_anomaly"]) for r in rows]
        flagged = [int(r["predicted_anomaly"]) for r in rows]
        at = json.loads((report / "metrics.json").read_text())["image"]["at_threshold"]
        tn, fp, fn, tp = confusion_matrix(y, flagged).ravel()
        assert (at["true_positives"], at["false_positives"]) == (tp, fp)
        assert (at["false_negatives"], at["true_negatives"]) == (fn, tn)
        for key, metric in (("precision", precision_score), ("recall", recall_score),
                            ("f1", f1_score)):  # fmt: skip
            expected = metric(y, flagged, zero_division=np.nan)
            assert at[key] == (None if np.isnan(expected) else pytest.approx(expected)), key
        printed = re.search(r"At the threshold: precision (\S+)\s+recall (\S+)\s+F1 (\S+)", out)
        assert float(printed.group(2)) == pytest.approx(at["recall"], abs=1e-4)
        assert f"true positives {tp}, false positives {fp}" in out
    assert 0 < at["true_positives"] + at["false_positives"] < len(rows)  # half flagged


def test_threshold_metrics_with_one_class_and_nothing_flagged(
    model_file, data_dir, tmp_path, capsys
):
    report = tmp_path / "r"
    folder = tmp_path / "only_good"
    shutil.copytree(data_dir / "test" / "0.normal", folder / "good")
    argv = ["score", str(model_file), str(folder), "--output", str(report), "--threshold", "1e9"]
    assert main([*argv, "--quiet"]) == 0
    out = capsys.readouterr().out
    image = json.loads((report / "metrics.json").read_text())["image"]
    assert image["roc_auc"] is None and image["n_anomalous"] == 0
    at = image["at_threshold"]
    assert at["precision"] is None and at["recall"] is None and at["f1"] is None  # undefined
    assert at["true_negatives"] == 6 and at["false_positives"] == 0
    assert "precision n/a" in out


# ----------------------------------------------------------------------
# Defaults: the command trains as Python does, the demo says what it changes
# ----------------------------------------------------------------------
def _option_help(command, flag):
    """The help text of one option of a subcommand, on one line."""
    from skanomaly.cli import build_parser

    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    action = subparsers.choices[command]._option_string_actions[flag]
    return " ".join((action.help or "").split())


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_train_uses_the_python_defaults(name):
    from skanomaly.cli import build_parser

    args = build_parser().parse_args(["train", "data", "--detector", name, "--output", "m"])
    params = _detector_from_args(args).get_params()
    defaults = DETECTORS[name]().get_params()
    differ = {key for key in params if params[key] != defaults[key]}
    # Only the seed (so that runs repeat, as --help says) and the progress bar.
    assert differ == {"random_state", "verbose"}
    assert params["n_epochs"] == "auto"
    assert "default: 0" in _option_help("train", "--seed")


def test_demo_help_states_every_setting_it_changes():
    from skanomaly.cli import PARAMETER_FLAGS, build_parser

    parser = build_parser()
    args = parser.parse_args(["demo"])
    params = _demo_params(args)
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    description = " ".join(subparsers.choices["demo"].description.split())
    for name in sorted(DETECTORS):
        defaults = DETECTORS[name]().get_params()
        for key, value in params.items():
            if key == "verbose" or value == defaults[key]:
                continue
            flag = PARAMETER_FLAGS[key]
            assert f"default: {value}" in _option_help("demo", flag), (key, value)
            if key != "random_state":
                assert f"{flag} {value}" in description, (key, value)


# ----------------------------------------------------------------------
# --help answers at once: nothing heavy is imported for it
# ----------------------------------------------------------------------
HEAVY_MODULES = ("torch", "torchvision", "sklearn", "scipy", "matplotlib", "pyod", "PIL")


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["score"], ["export"]])
def test_help_imports_no_heavy_module(command):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "skanomaly", *command, "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert result.returncode == 0 and "usage: skanomaly" in result.stdout
    # -X importtime lists every module imported, one per line: "import time: ... | name".
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    heavy = {name for name in imported if name.split(".")[0] in HEAVY_MODULES}
    assert not heavy, sorted(heavy)[:10]


def test_importing_the_package_and_the_command_imports_no_torch():
    code = (
        "import sys, skanomaly, skanomaly.cli; skanomaly.cli.build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert result.stdout.strip() == "[]"
    # ... and the names still resolve, on first use.
    assert skanomaly.GANomalyDetector.__module__ == "skanomaly.detectors.ganomaly"
    assert set(dir(skanomaly)) >= set(skanomaly.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        skanomaly.nope  # noqa: B018


# ----------------------------------------------------------------------
# One clear line for swapped arguments and damaged model files
# ----------------------------------------------------------------------
def test_swapped_score_arguments_say_so(model_file, data_dir, tmp_path, capsys):
    argv = ["score", str(data_dir), str(model_file), "--output", str(tmp_path / "r")]
    fails_with_one_line(
        capsys,
        argv,
        r"MODEL .* is a folder and DATA_DIR .*model\.skan a file: the arguments look swapped",
    )
    argv = ["score", str(data_dir), str(data_dir), "--output", str(tmp_path / "r")]
    fails_with_one_line(capsys, argv, r"MODEL .* is a folder, not a model file")


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


# ----------------------------------------------------------------------
# Report files: whole, one run at a time, unique map names, the user's umask
# ----------------------------------------------------------------------
@pytest.mark.skipif(os.name == "nt", reason="the folder lock is flock on POSIX")
def test_a_busy_report_folder_is_refused(model_file, data_dir, tmp_path, capsys):
    import fcntl

    report = tmp_path / "report"
    report.mkdir()
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    holder = os.open(report, os.O_RDONLY)  # as another score run holds it
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        out = fails_with_one_line(capsys, argv, "in use by another skanomaly score run")
    finally:
        os.close(holder)
    assert "Scored" not in out and not list(report.iterdir())
    assert main(argv) == 0  # free again


def test_two_score_runs_into_one_folder_do_not_mix(model_file, data_dir, tmp_path):
    # Started together, each either writes a whole report of its own or is refused.
    report = tmp_path / "report"
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "skanomaly",
                "score",
                str(model_file),
                str(data_dir),
                "--output",
                str(report),
                "--quiet",
                "--top-k",
                str(k),
                "--device",
                "cpu",
            ],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for k in (2, 3)
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert all(code == 0 or "in use" in err for code, _, err in results), results
    record = json.loads((report / "run.json").read_text())
    assert record["metrics"] == json.loads((report / "metrics.json").read_text())
    assert all((report / name).exists() for name in record["files"])
    assert len(_scores_csv(report)) == record["metrics"]["n_images"]


def test_a_failed_write_leaves_no_half_written_report(
    model_file, data_dir, tmp_path, capsys, monkeypatch
):
    report = tmp_path / "report"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main(argv) == 0
    before = (report / "metrics.json").read_bytes()

    def dump_then_fail(value, handle, **kwargs):  # a disk that fills up half-way
        handle.write(json.dumps(value)[:20])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", dump_then_fail)
    capsys.readouterr()
    fails_with_one_line(capsys, argv, "No space left on device")
    assert (report / "metrics.json").read_bytes() == before  # the earlier run's, whole
    json.loads(before)
    # No run.json: the folder does not claim to hold one run's report.
    assert not (report / "run.json").exists()
    assert not [p for p in report.iterdir() if p.name.startswith(".")]


def test_maps_are_unique_per_input_file(model_file, tmp_path, capsys):
    folder = tmp_path / "same_stem"
    folder.mkdir()
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / "x.png")
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(folder / "x.jpg", quality=95)
    report = tmp_path / "r"
    argv = ["score", str(model_file), str(folder), "--output", str(report), "--maps"]
    assert main([*argv, "--quiet"]) == 0
    maps = sorted(p.name for p in (report / "maps").iterdir())
    assert maps == ["x.jpg.png", "x.png.png"]
    pictures = [np.asarray(Image.open(report / "maps" / name)) for name in maps]
    assert not np.array_equal(*pictures)
    with Image.open(report / "maps_colour_scale.png") as scale:
        assert scale.width > scale.height > 50


def _modes(folder):
    return {
        str(path.relative_to(folder)): path.stat().st_mode & 0o777
        for path in [folder, *folder.rglob("*")]
    }


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_written_follows_the_umask(umask, mvtec_dir, tmp_path, capsys):
    old = os.umask(umask)
    try:
        model = tmp_path / "models" / "m.skan"
        assert main(_train_argv(mvtec_dir, model)) == 0
        report = tmp_path / "report"
        argv = ["score", str(model), str(mvtec_dir), "--output", str(report), "--maps"]
        assert main([*argv, "--quiet"]) == 0
        demo = tmp_path / "demo"
        assert main(["demo", "--output", str(demo), "--epochs", "1", "--n-filters", "4",
                     "--detectors", "ganomaly", "--quiet"]) == 0  # fmt: skip
    finally:
        os.umask(old)
    modes = {**_modes(tmp_path / "models"), **_modes(report), **_modes(demo)}
    files = {name: mode for name, mode in modes.items() if "." in Path(name).name}
    assert len(files) > 20 and "scores.csv" in files
    assert set(files.values()) == {0o666 & ~umask}, files
    folders = {name: mode for name, mode in modes.items() if name not in files}
    assert set(folders.values()) == {0o777 & ~umask}, folders


# ----------------------------------------------------------------------
# Output folders inside a clone are ignored by git
# ----------------------------------------------------------------------
def test_default_output_folders_are_ignored_by_git():
    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    from skanomaly.cli import build_parser

    demo = build_parser().parse_args(["demo"]).output
    paths = [
        f"{demo}/demo_ganomaly.png",  # skanomaly demo, run in the clone
        "image_folder_example/most_anomalous.png",  # python examples/image_folder.py
        "examples/image_folder_example/data/train/0.normal/00000.png",
        "defect_masks_example/maps/000.png",
        "examples/defect_masks_example/most_anomalous.png",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], cwd=repo, capture_output=True, text=True
    )
    assert sorted(result.stdout.split()) == sorted(paths)
