"""benchmarks/bench_default_fit.py keeps running: its --quick mode on real Fashion-MNIST."""

import json

import bench_default_fit as bench
import pytest


def test_quick_run_times_every_detector_against_the_autoencoder(tmp_path, data_dir):
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"Fashion-MNIST not found under {data_dir}")
    out = tmp_path / "fit.json"
    results = bench.main(["--quick", "--data-dir", str(data_dir), "--json", str(out)])
    rows = results["rows"]
    assert [row["detector"] for row in rows] == [bench.GANOMALY, bench.AUTOENCODER, bench.FOREST]
    autoencoder = rows[1]
    for row in rows:
        assert row["times_autoencoder"] == pytest.approx(row["fit_s"] / autoencoder["fit_s"])
        assert 0.0 <= row["roc_auc"] <= 1.0
    assert json.loads(out.read_text())["rows"] == rows


def test_shorter_ganomaly_fits_are_extra_rows(data_dir):
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"Fashion-MNIST not found under {data_dir}")
    argv = ["--quick", "--data-dir", str(data_dir), "--ganomaly-epochs", "2"]
    rows = bench.main(argv)["rows"]
    assert [(row["detector"], row["epochs"]) for row in rows] == [
        (bench.GANOMALY, 1),  # --quick: one epoch
        (f"{bench.GANOMALY}, n_epochs=2", 2),
        (bench.AUTOENCODER, None),
        (bench.FOREST, None),
    ]


def test_missing_data_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="Fashion-MNIST not found"):
        bench.main(["--data-dir", str(tmp_path)])


def test_bfloat16_training_is_a_row_of_its_own(data_dir):
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        pytest.skip(f"Fashion-MNIST not found under {data_dir}")
    argv = ["--quick", "--data-dir", str(data_dir), "--precisions", "float32", "bfloat16"]
    rows = bench.main([*argv, "--device", "cpu"])["rows"]
    names = [row["detector"] for row in rows]
    bfloat16 = f"{bench.GANOMALY}, bfloat16"
    assert names == [bench.GANOMALY, bfloat16, bench.AUTOENCODER, bench.FOREST]
    assert rows[0]["roc_auc"] != rows[1]["roc_auc"]  # the arithmetic did change the fit
