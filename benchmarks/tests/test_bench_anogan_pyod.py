"""benchmarks/bench_anogan_pyod.py keeps running: its --quick mode, with a variant of ours."""

import math

import bench_anogan_pyod


def test_quick_run_compares_every_contender_on_the_same_splits():
    results = bench_anogan_pyod.main(
        ["--quick", "--datasets", "breast_cancer", "--variant", "latent_steps=0"]
    )
    variant = "AnoGAN (skanomaly, latent_steps=0)"
    names = {bench_anogan_pyod.OURS, bench_anogan_pyod.PYOD, variant}
    assert {row["detector"] for row in results["rows"]} == names
    assert len({(row["n_train"], row["n_test"]) for row in results["rows"]}) == 1
    total = results["summary"][-1]
    assert total["dataset"] == "all"
    for name in names - {bench_anogan_pyod.PYOD}:
        ratio = total[f"speed ratio {name}"]
        assert math.isclose(ratio, total[f"{bench_anogan_pyod.PYOD} s"] / total[f"{name} s"])
    assert 0.0 <= total[f"{variant} ROC-AUC"] <= 1.0
