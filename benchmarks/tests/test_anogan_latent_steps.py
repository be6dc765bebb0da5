"""benchmarks/anogan_latent_steps.py keeps running: its --quick mode."""

import anogan_latent_steps as bench
import numpy as np
import pytest

from skanomaly import AnoGANDetector


def test_quick_run_scores_each_search_length_on_the_same_fit():
    results = bench.main(["--quick", "--datasets", "breast_cancer", "--seeds", "1"])
    assert set(results["mean"]) == {(None, 0), (None, 5), (None, 20), (None, 100)}
    for run, per_set in results["auc"].items():
        assert results["mean"][run] == np.mean([np.mean(v) for v in per_set.values()])
    # A longer search costs more scoring time.
    assert results["score_s"][None, 100] > results["score_s"][None, 0]


def test_fit_steps_set_what_auto_aims_at():
    assert bench.detector_class(None) is AnoGANDetector
    X = np.random.default_rng(0).normal(size=(640, 3))  # 10 batches of 64
    detector = bench.detector_class(400)(latent_steps=0, n_estimators=1, random_state=0).fit(X)
    assert isinstance(detector, AnoGANDetector)
    assert detector.n_epochs_ == 40  # 400 steps / 10 per epoch (one network: all rows)
    results = bench.main(
        ["--quick", "--datasets", "breast_cancer", "--seeds", "1", "--fit-steps", "30", "60"]
    )
    assert set(results["fit_s"]) == {30, 60}
    assert set(results["mean"]) == {(fit, k) for fit in (30, 60) for k in (0, 5, 20, 100)}


def test_adbench_sets_under_its_protocol(data_dir):
    if not (data_dir / "adbench" / "14_glass.npz").is_file():
        pytest.skip(f"the ADBench sets are not under {data_dir}")
    argv = ["--quick", "--adbench", "glass", "breastw", "--seeds", "2", "--steps", "0", "5"]
    results = bench.main([*argv, "--data-dir", str(data_dir)])
    assert set(results["auc"][None, 0]) == {"glass", "breastw"}
    assert all(len(v) == 2 for v in results["auc"][None, 5].values())  # two seeds
    for run in results["mean"]:
        assert 0 <= results["seed_std"][run] < 0.5 and 0 < results["mean_ap"][run] <= 1
