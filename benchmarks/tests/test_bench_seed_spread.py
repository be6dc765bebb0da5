"""benchmarks/bench_seed_spread.py keeps the split and changes only the detector's seed."""

import bench_seed_spread
import numpy as np
import pytest


def test_only_the_detector_seed_changes():
    detectors = ["GANomaly (skanomaly)", "IsolationForest (sklearn)", "L1 to median (trivial)"]
    argv = ["--datasets", "breast_cancer", "--seeds", "2", "--set", "n_epochs=1"]
    results = bench_seed_spread.main([*argv, "--detectors", *detectors])
    rows = results["rows"]
    assert len(rows) == 6 and {row["status"] for row in rows} == {"ok"}
    assert len({row["n_train"] for row in rows}) == 1  # one split for every fit
    spread = {d: per_set["breast_cancer"] for d, per_set in results["summary"].items()}
    # No randomness in the median distance: on one split it cannot move.
    assert spread["L1 to median (trivial)"][1] == 0.0
    # IsolationForest draws its trees from random_state: the seeds differ.
    forest = [row["roc_auc"] for row in rows if row["detector"] == detectors[1]]
    assert forest[0] != forest[1]
    assert spread[detectors[1]] == pytest.approx((np.mean(forest), np.std(forest)))
    assert all(per_set["mean"] == spread[d] for d, per_set in results["summary"].items())


def test_a_spread_needs_two_seeds():
    with pytest.raises(SystemExit):
        bench_seed_spread.main(["--datasets", "breast_cancer", "--seeds", "1"])
