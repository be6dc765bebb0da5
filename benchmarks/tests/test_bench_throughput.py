"""benchmarks/bench_throughput.py keeps running: its --quick mode on tiny shapes."""

from __future__ import annotations

import json
import math

import bench_throughput as bench
import torch


def test_quick_run_measures_every_detector_and_backbone(tmp_path, capsys):
    out = tmp_path / "throughput.json"
    with torch.random.fork_rng():  # the script seeds torch's global generator
        results = bench.main(["--quick", "--device", "cpu", "--json", str(out)])

    printed = capsys.readouterr().out
    assert "load average at start" in printed and "% roofline" in printed
    assert json.loads(out.read_text())["rows"] == json.loads(json.dumps(results["rows"]))

    pairs = {(row["detector"].split()[0], row["backbone"]) for row in results["rows"]}
    assert pairs == {(d, b) for d in bench.DETECTORS for b in bench.BACKBONES}
    for row in results["rows"]:
        for key in ("GFLOP/step", "ms/step", "GFLOP/s", "% of roofline", "scored/s"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["detector"], key)
        # A difference of two fits: noise may make it negative on tiny shapes.
        assert math.isfinite(row["ms/step in fit"]) and math.isfinite(row["fit fixed s"])
    # AnoGAN's scoring is a latent search, and says so.
    assert any("latent search" in row["detector"] for row in results["rows"])

    # The roofline comes from the networks' own shapes: convolutions for the
    # image backbone, matrix products for both, and a reference product.
    kinds = {(layer.get("backbone"), layer["kind"]) for layer in results["layers"]}
    assert {("dcgan", "conv"), ("mlp", "matmul"), (None, "reference")} <= kinds
    assert all(layer["fwd GFLOP/s"] > 0 for layer in results["layers"])


def test_precisions_and_compiled_steps_are_rows_of_their_own():
    with torch.random.fork_rng():
        argv = ["--quick", "--device", "cpu", "--detectors", "GANomaly", "--backbones", "mlp"]
        rows = bench.main([*argv, "--precisions", "float32", "bfloat16", "--no-fit-loop"])["rows"]
    assert [row["precision"] for row in rows] == ["float32", "bfloat16"]
    # Scoring is float64 whatever the training arithmetic: timed with the first row only.
    assert "scored/s" in rows[0] and "scored/s" not in rows[1]
    assert all(row["ms/step"] > 0 for row in rows)
