"""benchmarks/run_benchmark.py: a --quick run, resuming, missing data, the published report."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from protocols import PROFILES, one_class_tasks
from report import read_csv, write_csv
from run_benchmark import main, parse_args
from runner import row_key
from sklearn.datasets import load_digits

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "benchmark"


def test_quick_run_writes_csv_markdown_and_plots(tmp_path, data_dir):
    datasets = ["breast_cancer", "digits"]
    if (data_dir / "FashionMNIST" / "raw").is_dir():
        datasets.append("fashion_mnist")
    if (data_dir / "odds" / "glass.mat").is_file():
        datasets.append("glass")
    argv = ["--quick", "--output", str(tmp_path), "--device", "cpu", "--data-dir", str(data_dir)]
    assert main([*argv, "--datasets", *datasets]) == 0
    for name in ("results.csv", "results.md", "auc_per_dataset.png", "time_vs_auc.png", "log.txt"):
        assert (tmp_path / name).stat().st_size > 0, name

    rows = read_csv(tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="") as handle:
        assert len(list(csv.reader(handle))) == len(rows) + 1
    assert {r["dataset"] for r in rows} == set(datasets)
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    tabular = [r for r in rows if r["part"] == "tabular"]
    assert {
        "AnoGAN (skanomaly)",
        "EGBAD (skanomaly)",
        "GANomaly (skanomaly)",
        "GANomaly-rec (skanomaly)",
        "AnoGAN (PyOD)",
        "ALAD (PyOD)",
        "AutoEncoder (PyOD)",
        "IForest (PyOD)",
        "ECOD (PyOD)",
        "KNN (PyOD)",
        "LOF (PyOD)",
        "IsolationForest (sklearn)",
        "L1 to median (trivial)",
    } == {r["detector"] for r in tabular}
    # Same split for everyone: one size per data set.
    for dataset in {r["dataset"] for r in tabular}:
        assert len({(r["n_train"], r["n_test"]) for r in tabular if r["dataset"] == dataset}) == 1
    # The classic detectors separate malignant from benign tumours.
    iforest = next(
        r
        for r in tabular
        if r["detector"] == "IsolationForest (sklearn)" and r["dataset"] == "breast_cancer"
    )
    assert iforest["roc_auc"] > 0.6
    digits = [r for r in rows if r["dataset"] == "digits"]
    assert {r["normal_class"] for r in digits} == {"0", "1"}
    assert {r["detector"] for r in digits} == set(PROFILES["quick"].image_contenders)
    assert all(0 <= r["roc_auc"] <= 1 and r["fit_s"] >= 0 for r in rows)

    report = (tmp_path / "results.md").read_text()
    assert "## Tabular data" in report and "Digits" in report
    assert "python benchmarks/run_benchmark.py --quick" in report
    assert "logical cores" in report and "## Targets" not in report and "**met**" not in report

    # --resume keeps what is done and runs only the missing fits.
    kept = [r for r in rows if r["detector"] != "IsolationForest (sklearn)"]
    write_csv(kept, tmp_path / "results.csv")
    resumed_argv = [*argv, "--datasets", *datasets, "--resume"]
    assert main([*resumed_argv, "--detectors", "IsolationForest (sklearn)"]) == 0
    resumed = read_csv(tmp_path / "results.csv")
    assert sorted(map(row_key, resumed)) == sorted(map(row_key, rows))
    by_key = {row_key(r): r for r in resumed}
    for before in kept:
        assert by_key[row_key(before)] == before  # untouched, not refitted
    assert len(json.loads((tmp_path / "runs.json").read_text())) == 2


def test_sets_without_files_are_skipped_with_a_line(tmp_path, capsys):
    empty = tmp_path / "no-data"
    argv = ["--quick", "--output", str(tmp_path / "out"), "--device", "cpu"]
    argv += ["--data-dir", str(empty), "--detectors", "L1 to median (trivial)"]
    assert main([*argv, "--datasets", "glass", "fashion_mnist", "breast_cancer"]) == 0
    printed = capsys.readouterr().out
    assert f"glass: {empty / 'odds' / 'glass.mat'} not found, skipped" in printed
    assert f"fashion_mnist: {empty / 'FashionMNIST' / 'raw'} not found, skipped" in printed
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert {(r["dataset"], r["detector"]) for r in rows} == {
        ("breast_cancer", "L1 to median (trivial)")
    }


def test_data_dir_defaults_to_the_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SKANOMALY_DATA", str(tmp_path))
    assert parse_args([]).data_dir == tmp_path
    assert parse_args(["--data-dir", "elsewhere"]).data_dir == Path("elsewhere")
    monkeypatch.delenv("SKANOMALY_DATA")
    assert parse_args([]).data_dir == Path.home() / "skanomaly_data"


@pytest.mark.parametrize(
    "profile, folder",
    [
        ("full", "."),
        ("adbench", "adbench"),
        ("adbench", "adbench_seeds3to5"),
        ("adbench", "adbench_seeds6to8"),
    ],
)
def test_published_page_is_the_report_of_the_published_rows(profile, folder, tmp_path):
    """``--report-only`` on the committed results.csv writes the committed results.md."""
    published = PUBLISHED / folder
    for name in ("results.csv", "runs.json"):
        shutil.copy(published / name, tmp_path / name)
    assert main(["--report-only", "--profile", profile, "--output", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").read_text() == (published / "results.md").read_text()


def test_one_class_tasks_train_on_the_normal_class_only():
    digits = load_digits()
    by_image = {
        image.tobytes(): label for image, label in zip(digits.images, digits.target, strict=True)
    }
    tasks = list(one_class_tasks("digits", PROFILES["quick"], Path("unused"), seed=0))
    assert [t[0] for t in tasks] == [0, 1]
    for c, name, X_train, X_test, y_test in tasks:
        assert name == str(c) and X_train.shape[1:] == (1, 8, 8)
        assert {by_image[x[0].astype(np.float64).tobytes()] for x in X_train} == {c}
        labels = np.array([by_image[x[0].astype(np.float64).tobytes()] for x in X_test])
        np.testing.assert_array_equal(y_test, labels != c)


@pytest.mark.parametrize("argv", [["--datasets", "nope"], ["--profile", "huge"]])
def test_cli_rejects_unknown_choices(argv):
    with pytest.raises(SystemExit):
        main(argv)


def test_first_seed_runs_fresh_splits(tmp_path):
    # --first-seed 3: the quick profile's one tabular seed is 3, a new split
    # (the median distance, which has no seed of its own, scores it
    # differently), and the report names the seed.
    argv = ["--quick", "--device", "cpu", "--datasets", "breast_cancer"]
    argv += ["--detectors", "L1 to median (trivial)"]
    assert main([*argv, "--output", str(tmp_path / "usual")]) == 0
    assert main([*argv, "--output", str(tmp_path / "fresh"), "--first-seed", "3"]) == 0
    (usual,), (fresh,) = (read_csv(tmp_path / n / "results.csv") for n in ("usual", "fresh"))
    assert (usual["seed"], fresh["seed"]) == (0, 3)
    assert usual["roc_auc"] != fresh["roc_auc"]
    assert "1 seed(s) (3)," in (tmp_path / "fresh" / "results.md").read_text()
    assert "1 seed(s)," in (tmp_path / "usual" / "results.md").read_text()
