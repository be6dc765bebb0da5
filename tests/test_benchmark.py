"""The benchmark runner: a --quick smoke run, and the target verdicts."""

from __future__ import annotations

import csv
import json
import math

import pytest

from skanomaly.benchmark import PROFILES, main, read_csv, row_key, targets, write_csv

from .conftest import SHARED_DATASETS


def _row(detector, dataset, auc, part="tabular", seconds=1.0, class_name="", status="ok"):
    return {
        "part": part,
        "dataset": dataset,
        "normal_class": "",
        "class_name": class_name,
        "seed": 0,
        "detector": detector,
        "family": "skanomaly" if detector.endswith("(skanomaly)") else "PyOD",
        "n_train": 10,
        "n_test": 10,
        "roc_auc": auc,
        "average_precision": auc,
        "fit_s": seconds,
        "score_s": 0.0,
        "status": status,
        "params": "{}",
    }


def _verdicts(rows, profile="full-gpu"):
    return {target: verdict for target, _, verdict in targets(rows, PROFILES[profile])}


def _find(verdicts, start):
    return next(v for t, v in verdicts.items() if t.startswith(start))


def test_targets_are_computed_from_the_results():
    rows = []
    for dataset in ("glass", "breastw"):
        rows += [
            _row("AnoGAN (skanomaly)", dataset, 0.80, seconds=2.0),
            _row("AnoGAN (PyOD)", dataset, 0.70, seconds=30.0),
            _row("EGBAD (skanomaly)", dataset, 0.60),
            _row("ALAD (PyOD)", dataset, 0.65),
            _row("IsolationForest (sklearn)", dataset, 0.81),
        ]
    verdicts = _verdicts(rows)
    assert _find(verdicts, "AnoGAN (skanomaly) mean tabular") == "**met**"
    assert _find(verdicts, "EGBAD (skanomaly) mean tabular") == "**missed**"
    assert _find(verdicts, "AnoGAN (skanomaly) total time") == "**met**"  # 15x
    assert _find(verdicts, "best skanomaly detector within 0.02") == "**met**"  # 0.80 vs 0.81
    assert _find(verdicts, "Fashion-MNIST").startswith("not judged")

    slower = [dict(r, fit_s=5.0) if r["detector"] == "AnoGAN (skanomaly)" else r for r in rows]
    assert _find(_verdicts(slower), "AnoGAN (skanomaly) total time") == "**missed**"
    # Where the profile caps PyOD's AnoGAN, only its runs at the defaults count ...
    assert _find(_verdicts(rows, "full"), "AnoGAN (skanomaly) total").startswith("not judged")
    defaults = [dict(_row("AnoGAN (PyOD)", "glass", 0.7, seconds=10.0), part="defaults")]
    assert _find(_verdicts(rows + defaults, "full"), "AnoGAN (skanomaly) total") == "**missed**"
    defaults[0]["fit_s"] = 20.0  # 10x our 2 s on the same split
    assert _find(_verdicts(rows + defaults, "full"), "AnoGAN (skanomaly) total") == "**met**"
    # ... and where it caps ours too (quick), ours must have been run at its defaults as well.
    assert _find(_verdicts(rows + defaults, "quick"), "AnoGAN (skanomaly) total").startswith(
        "not judged"
    )
    defaults.append(dict(_row("AnoGAN (skanomaly)", "glass", 0.8, seconds=2.5), part="defaults"))
    assert _find(_verdicts(rows + defaults, "quick"), "AnoGAN (skanomaly) total") == "**missed**"
    # A failed run leaves its detector without a mean, hence without a verdict.
    failed = [
        dict(r, status="error: boom", roc_auc=math.nan) if r["detector"] == "ALAD (PyOD)" else r
        for r in rows
    ]
    assert _find(_verdicts(failed), "EGBAD (skanomaly) mean").startswith("not judged")


def test_fashion_target_needs_all_classes_and_the_baseline():
    classes = [str(c) for c in range(10)]
    rows = [
        _row(detector, "fashion_mnist", auc, part="image", class_name=c)
        for c in classes
        for detector, auc in (("GANomaly (skanomaly)", 0.9), ("AutoEncoder (PyOD)", 0.88))
    ]
    assert _find(_verdicts(rows), "Fashion-MNIST") == "**met**"
    lower = [dict(r, roc_auc=0.84) if r["detector"].startswith("GANomaly") else r for r in rows]
    assert _find(_verdicts(lower), "Fashion-MNIST") == "**missed**"
    assert _find(_verdicts(rows[:10]), "Fashion-MNIST").startswith("not judged")


def test_quick_run_writes_csv_markdown_and_plots(tmp_path, capsys):
    datasets = ["breast_cancer", "digits"]
    if (SHARED_DATASETS / "FashionMNIST" / "raw").exists():
        datasets.append("fashion_mnist")
    assert (
        main(["--quick", "--output", str(tmp_path), "--device", "cpu", "--datasets", *datasets])
        == 0
    )
    for name in ("results.csv", "results.md", "auc_per_dataset.png", "time_vs_auc.png", "log.txt"):
        assert (tmp_path / name).stat().st_size > 0, name

    rows = read_csv(tmp_path / "results.csv")
    with open(tmp_path / "results.csv", newline="") as handle:
        assert len(list(csv.reader(handle))) == len(rows) + 1
    assert {r["dataset"] for r in rows} == set(datasets)
    assert all(r["status"] == "ok" for r in rows), [
        r["status"] for r in rows if r["status"] != "ok"
    ]
    tabular = [r for r in rows if r["part"] == "tabular"]
    detectors = {r["detector"] for r in tabular}
    assert {
        "GANomaly (skanomaly)",
        "AnoGAN (PyOD)",
        "ALAD (PyOD)",
        "AutoEncoder (PyOD)",
        "IForest (PyOD)",
        "ECOD (PyOD)",
        "IsolationForest (sklearn)",
    } <= detectors
    # Same split for everyone: one test size per data set.
    assert len({(r["n_train"], r["n_test"]) for r in tabular}) == 1
    # The classic detectors separate malignant from benign tumours.
    iforest = next(r for r in tabular if r["detector"] == "IsolationForest (sklearn)")
    assert iforest["roc_auc"] > 0.6
    digits = [r for r in rows if r["dataset"] == "digits"]
    assert {r["normal_class"] for r in digits} == {"0", "1"}
    assert all(0 <= r["roc_auc"] <= 1 and r["fit_s"] >= 0 for r in rows)

    report = (tmp_path / "results.md").read_text()
    assert "## Targets" in report and "## Tabular data" in report
    assert "Digits" in report and "logical cores" in report
    assert "python benchmarks/run_benchmark.py --quick" in report

    # --resume keeps what is done and runs only the missing fits.
    kept = [r for r in rows if r["detector"] != "IsolationForest (sklearn)"]
    write_csv(kept, tmp_path / "results.csv")
    argv = ["--quick", "--output", str(tmp_path), "--device", "cpu", "--datasets", *datasets]
    assert main([*argv, "--resume", "--detectors", "IsolationForest (sklearn)"]) == 0
    resumed = read_csv(tmp_path / "results.csv")
    assert sorted(map(row_key, resumed)) == sorted(map(row_key, rows))
    by_key = {row_key(r): r for r in resumed}
    for before in kept:
        assert by_key[row_key(before)] == before  # untouched, not refitted
    assert len(json.loads((tmp_path / "runs.json").read_text())) == 2
    assert "made by:" in (tmp_path / "results.md").read_text()


@pytest.mark.parametrize("argv", [["--datasets", "nope"], ["--profile", "huge"]])
def test_cli_rejects_unknown_choices(argv):
    with pytest.raises(SystemExit):
        main(argv)
