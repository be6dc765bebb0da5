"""AnoGAN on tabular data: ROC-AUC by the length of the latent search.

Each split of the tabular sets of ``bench_anogan_pyod.py`` (ODDS breastw,
glass, shuttle as 1,000 rows, scikit-learn's breast cancer; 60/40,
standardised on the training part) gets one default ``AnoGANDetector`` fit,
which then scores the test part with each ``latent_steps`` value in turn
(``set_params`` after the fit: the search is a scoring setting). Prints the
ROC-AUC per set and the mean, and the scoring seconds, per value::

    python benchmarks/anogan_latent_steps.py --seeds 3
    python benchmarks/anogan_latent_steps.py --quick   # tiny: a smoke test

The ODDS files are read from ``--data-dir`` (default: ``$SKANOMALY_DATA``,
else ``~/skanomaly_data``); absent sets are skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_anogan_pyod import DATASETS, load, splits
from sklearn.metrics import roc_auc_score

from skanomaly import AnoGANDetector
from skanomaly.datasets import get_data_home


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with odds/*.mat")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 20, 100])
    parser.add_argument("--quick", action="store_true", help="two epochs: not the defaults")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as AnoGAN trains and scores tabular data
    data_dir = get_data_home(args.data_dir)
    data = {}
    for name in args.datasets:
        loaded = load(name, data_dir, 1000, max_rows=150 if args.quick else 0)
        if loaded is None:
            print(f"{name}: {data_dir / 'odds' / (name + '.mat')} not found, skipped")
        else:
            data[name] = loaded
    auc = {k: {name: [] for name in data} for k in args.steps}
    seconds = dict.fromkeys(args.steps, 0.0)
    for name, seed, X_train, X_test, y_test in splits(data, args.seeds):
        detector = AnoGANDetector(n_epochs=2 if args.quick else "auto", random_state=seed)
        detector.fit(X_train)
        for k in args.steps:
            start = time.perf_counter()
            scores = -detector.set_params(latent_steps=k).score_samples(X_test)
            seconds[k] += time.perf_counter() - start
            auc[k][name].append(roc_auc_score(y_test, scores))
    print(f"mean ROC-AUC over {args.seeds} seed(s), and scoring seconds summed")
    print("| latent_steps | " + " | ".join(data) + " | mean | score s |")
    print("|---|" + "---|" * (len(data) + 2))
    means = {}
    for k in args.steps:
        per_set = [float(np.mean(auc[k][name])) for name in data]
        means[k] = float(np.mean(per_set))
        cells = " | ".join(f"{value:.3f}" for value in per_set)
        print(f"| {k} | {cells} | {means[k]:.3f} | {seconds[k]:.1f} |")
    return {"auc": auc, "mean": means, "score_s": seconds}


if __name__ == "__main__":
    main()
