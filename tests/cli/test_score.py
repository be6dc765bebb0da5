"""``skanomaly score``: scores, thresholds, image and pixel metrics, and its checks."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

import skanomaly
from skanomaly.cli import DETECTORS, main
from skanomaly.datasets import load_image_folder
from skanomaly.metrics import aupro, pixel_roc_auc
from skanomaly.persistence import read_metadata
from skanomaly.plot import MASK_COLOUR

from ..conftest import fails_with_one_line
from .conftest import FLAG, option_strings, png_folder, read_flagged, scores_csv


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


def test_score_resizes_images_to_the_model_size_and_says_so(model_file, tmp_path, capsys):
    folder = png_folder(tmp_path / "big", (16, 12))
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
    scores = [float(r["anomaly_score"]) for r in scores_csv(report)]
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_resize_note_gives_the_upright_size_of_rotated_photos(model_file, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 16 rows by 12 columns, shown turned: 12 by 16
    for i in range(2):
        Image.fromarray(np.full((16, 12), 40 * i, np.uint8)).save(folder / f"{i}.png", exif=exif)
    report = tmp_path / "r"
    assert main(["score", str(model_file), str(folder), "--output", str(report), "--quiet"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "resized 2 of 2 images (e.g. 12x16)" in notes[0]


def test_score_at_the_model_size_resizes_nothing(model_file, data_dir, tmp_path, capsys):
    report = tmp_path / "r"
    argv = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main(argv) == 0
    assert "note:" not in capsys.readouterr().err
    images = load_image_folder(data_dir / "test").images  # not resized
    expected = -skanomaly.load(model_file).score_samples(images)
    assert [r["anomaly_score"] for r in scores_csv(report)] == [f"{v:.6g}" for v in expected]


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
        argv[2] = str(png_folder(tmp_path / "big", (40, 40)))
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
    assert set(FLAG.findall(out + err)) <= option_strings("score"), err


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
    rows = scores_csv(report)
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


def test_score_threshold_and_contamination(model_file, data_dir, tmp_path, capsys):
    base = ["score", str(model_file), str(data_dir), "--quiet", "--output"]
    assert main([*base, str(tmp_path / "default")]) == 0
    scores, default = read_flagged(tmp_path / "default")
    detector = skanomaly.load(model_file)
    np.testing.assert_array_equal(default, scores > -detector.offset_)

    # A score: flagged above it.
    cut = float(np.median(scores))
    assert main([*base, str(tmp_path / "t"), "--threshold", f"{cut!r}"]) == 0
    np.testing.assert_array_equal(read_flagged(tmp_path / "t")[1], scores > cut)
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
    np.testing.assert_array_equal(read_flagged(tmp_path / "c")[1], default)
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
    scores, flagged = read_flagged(report)
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


def test_swapped_score_arguments_say_so(model_file, data_dir, tmp_path, capsys):
    argv = ["score", str(data_dir), str(model_file), "--output", str(tmp_path / "r")]
    fails_with_one_line(
        capsys,
        argv,
        r"MODEL .* is a folder and DATA_DIR .*model\.skan a file: the arguments look swapped",
    )
    argv = ["score", str(data_dir), str(data_dir), "--output", str(tmp_path / "r")]
    fails_with_one_line(capsys, argv, r"MODEL .* is a folder, not a model file")


def test_score_reports_precision_recall_f1_at_the_threshold(
    model_file, data_dir, tmp_path, capsys
):
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    report = tmp_path / "r"
    base = ["score", str(model_file), str(data_dir), "--output", str(report), "--quiet"]
    assert main([*base, "--threshold", "q0.5"]) == 0
    median = float(np.median([float(r["anomaly_score"]) for r in scores_csv(report)]))
    for threshold in ("q0.5", repr(median)):
        assert main([*base, "--threshold", threshold]) == 0
        out = capsys.readouterr().out
        rows = scores_csv(report)
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
