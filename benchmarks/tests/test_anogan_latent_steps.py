"""benchmarks/anogan_latent_steps.py keeps running: its --quick mode."""

import anogan_latent_steps as bench
import numpy as np


def test_quick_run_scores_each_search_length_on_the_same_fit():
    results = bench.main(["--quick", "--datasets", "breast_cancer", "--seeds", "1"])
    assert set(results["mean"]) == {0, 5, 20, 100}
    for k, per_set in results["auc"].items():
        assert results["mean"][k] == np.mean([np.mean(v) for v in per_set.values()])
    # A longer search costs more scoring time.
    assert results["score_s"][100] > results["score_s"][0]
