"""AnoGAN on tabular data: ROC-AUC by the length of the latent search (and of training).

Each split of the tabular sets of ``bench_anogan_pyod.py`` (ODDS breastw,
glass, shuttle as 1,000 rows, scikit-learn's breast cancer; 60/40,
standardised on the training part) gets one default ``AnoGANDetector`` fit,
which then scores the test part with each ``latent_steps`` value in turn
(``set_params`` after the fit: the search is a scoring setting). Prints the
ROC-AUC per set and the mean, and the scoring seconds, per value::

    python benchmarks/anogan_latent_steps.py --seeds 3
    python benchmarks/anogan_latent_steps.py --seeds 3 --fit-steps 500 1000 2000 --steps 0 100
    python benchmarks/anogan_latent_steps.py --quick   # tiny: a smoke test

``--fit-steps`` fits once per value, with ``n_epochs="auto"`` aiming at
that many optimiser steps instead of the detector's own 2,000 (the same
bounds on epochs apply), and prints the fit seconds too.

``--adbench`` runs the 14 ADBench sets of the data folder instead, under
the ADBench protocol of ``run_benchmark.py --profile adbench`` (70/30,
training rows with their anomalies, at most 10,000 of them)::

    python benchmarks/anogan_latent_steps.py --adbench --seeds 3 --steps 100 50 20 10 5 0

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
from protocols import ADBENCH_SETS, load_tabular, tabular_split
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import AnoGANDetector
from skanomaly.datasets import get_data_home


def detector_class(fit_steps: int | None) -> type:
    """``AnoGANDetector``, or a subclass whose ``n_epochs="auto"`` aims at ``fit_steps``."""
    if fit_steps is None:
        return AnoGANDetector
    auto_steps = {"tabular": fit_steps, "image": fit_steps}
    return type(f"AnoGANDetector{fit_steps}", (AnoGANDetector,), {"_auto_steps": auto_steps})


def adbench_splits(data: dict, n_seeds: int):
    """Yield ``(name, seed, X_train, X_test, y_test)`` under the ADBench protocol."""
    for seed in range(n_seeds):
        for name, (X, y) in data.items():
            X_train, X_test, y_test = tabular_split(
                X, y, seed, protocol="adbench", max_train_rows=10_000
            )
            yield name, seed, X_train, X_test, y_test


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with odds/*.mat")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 5, 20, 100])
    parser.add_argument(
        "--fit-steps",
        type=int,
        nargs="+",
        default=[None],
        help='optimiser steps "auto" aims at, one fit per value; default: the detector\'s',
    )
    parser.add_argument(
        "--adbench",
        nargs="*",
        metavar="SET",
        help="ADBench sets (e.g. glass; none named: all 14), under ADBench's protocol",
    )
    parser.add_argument(
        "--quick", action="store_true", help="150 rows, two epochs (or --fit-steps): a smoke test"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as AnoGAN trains and scores tabular data
    data_dir = get_data_home(args.data_dir)
    data = {}
    adbench = args.adbench is not None
    chosen = [f"adbench/{n}" for n in args.adbench] if args.adbench else ADBENCH_SETS
    for name in chosen if adbench else args.datasets:
        if adbench:
            loaded = load_tabular(name, data_dir, 0)
            if loaded is not None and args.quick:  # one fixed stratified subsample
                X, _, y, _ = train_test_split(
                    *loaded, train_size=150, stratify=loaded[1], random_state=0
                )
                loaded = X, y
        else:
            loaded = load(name, data_dir, 1000, max_rows=150 if args.quick else 0)
        if loaded is None:
            print(f"{name}: not found under {data_dir}, skipped")
        else:
            data[name.removeprefix("adbench/")] = loaded
    runs = [(fit, k) for fit in args.fit_steps for k in args.steps]
    auc = {run: {name: [] for name in data} for run in runs}
    ap = {run: {name: [] for name in data} for run in runs}
    seconds = dict.fromkeys(runs, 0.0)
    fit_seconds = dict.fromkeys(args.fit_steps, 0.0)
    split = adbench_splits if adbench else splits
    for name, seed, X_train, X_test, y_test in split(data, args.seeds):
        for fit in args.fit_steps:
            # --quick trains two epochs, unless --fit-steps says how long
            epochs = 2 if args.quick and fit is None else "auto"
            detector = detector_class(fit)(n_epochs=epochs, random_state=seed)
            start = time.perf_counter()
            detector.fit(X_train)
            fit_seconds[fit] += time.perf_counter() - start
            for k in args.steps:
                start = time.perf_counter()
                scores = -detector.set_params(latent_steps=k).score_samples(X_test)
                seconds[fit, k] += time.perf_counter() - start
                auc[fit, k][name].append(roc_auc_score(y_test, scores))
                ap[fit, k][name].append(average_precision_score(y_test, scores))
    print(f"mean ROC-AUC over {args.seeds} seed(s); fit and scoring seconds summed")
    print("| fit steps | fit s | latent_steps | " + " | ".join(data) + " | mean | score s |")
    print("|---|---|---|" + "---|" * (len(data) + 2))
    means, seed_std, mean_ap = {}, {}, {}
    for fit, k in runs:
        per_set = [float(np.mean(auc[fit, k][name])) for name in data]
        means[fit, k] = float(np.mean(per_set))
        seed_std[fit, k] = float(np.mean([np.std(auc[fit, k][name]) for name in data]))
        mean_ap[fit, k] = float(np.mean([np.mean(ap[fit, k][name]) for name in data]))
        cells = " | ".join(f"{value:.3f}" for value in per_set)
        label = f"auto ({AnoGANDetector._auto_steps['tabular']:,})" if fit is None else f"{fit:,}"
        print(
            f"| {label} | {fit_seconds[fit]:.1f} | {k} | {cells} | {means[fit, k]:.3f} "
            f"| {seconds[fit, k]:.1f} |"
        )
    print("\n| fit steps | latent_steps | mean ROC-AUC | seed std (mean over sets) | mean AP |")
    print("|---|---|---|---|---|")
    for fit, k in runs:
        print(
            f"| {fit or 'auto'} | {k} | {means[fit, k]:.4f} | {seed_std[fit, k]:.4f} "
            f"| {mean_ap[fit, k]:.4f} |"
        )
    return {
        "auc": auc,
        "ap": ap,
        "mean": means,
        "seed_std": seed_std,
        "mean_ap": mean_ap,
        "score_s": seconds,
        "fit_s": fit_seconds,
    }


if __name__ == "__main__":
    main()
