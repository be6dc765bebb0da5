"""benchmarks/bench_step_profile.py keeps running: its --quick mode on tiny shapes."""

from __future__ import annotations

import json

import bench_step_profile as bench


def test_quick_run_profiles_every_detector_and_backbone(tmp_path):
    out = tmp_path / "profile.json"
    rows = bench.main(["--quick", "--device", "cpu", "--json", str(out)])
    pairs = {(row["detector"], row["backbone"]) for row in rows}
    assert pairs == {(d, b) for d in bench.DETECTORS for b in bench.BACKBONES}
    for row in rows:
        assert row["ms/step"] > 0 and row["aten ops/step"] > 10
        # On the CPU there are no kernel launches, GPU kernels or syncs to count.
        assert row["launches/step"] == row["syncs/step"] == row["GPU kernel ms/step"] == 0
    assert json.loads(out.read_text()) == rows
