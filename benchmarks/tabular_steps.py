"""ROC-AUC by optimiser steps on a tabular set: one fit per detector and split.

Each detector is fitted at its defaults (``n_epochs="auto"``, which on a
large set is the lower bound of 15 epochs) on the contaminated training
part of a 60/40 stratified split, features standardised on it, as in
``bench_anogan_pyod.py``. The weights are kept after each number of steps
in ``--steps``, and each copy is finished as ``fit`` finishes (batch-norm
statistics recomputed, score scales set) and scores the test part: the
ROC-AUC a fit stopped there would have had, so that one fit gives the whole
curve. scikit-learn's ``IsolationForest`` is scored on the same split, for
reference. Made to choose ``n_epochs="auto"``'s bounds on large tabular
sets; the test part is cut to ``--test-rows`` (stratified) to keep AnoGAN's
latent search affordable::

    python benchmarks/tabular_steps.py --dataset shuttle --rows 0 --seeds 3
    python benchmarks/tabular_steps.py --dataset breastw --steps 100 300 1000 --detectors EGBAD
    python benchmarks/tabular_steps.py --dataset breast_cancer --param n_epochs=3 --steps 6

The ODDS files are read from ``--data-dir`` (default: ``$SKANOMALY_DATA``,
else ``~/skanomaly_data``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_anogan_pyod import DATASETS, load, load_average, splits
from one_class import Snapshots, parse_params, snapshot_curve
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly._training import training_callbacks
from skanomaly.datasets import get_data_home

DETECTORS = {"GANomaly": GANomalyDetector, "EGBAD": EGBADDetector, "AnoGAN": AnoGANDetector}
STEPS = (150, 300, 600, 1000, 1500, 2000, 3000, 4600)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="shuttle")
    parser.add_argument("--rows", type=int, default=0, help="stratified subsample; 0: all")
    parser.add_argument("--test-rows", type=int, default=5000, help="cap on the test part")
    parser.add_argument("--seeds", type=int, default=3, help="splits 0 .. seeds-1")
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS))
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=list(DETECTORS))
    parser.add_argument("--data-dir", help="folder with odds/*.mat; default: get_data_home()")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a constructor parameter (value read as JSON if it parses), e.g. n_epochs=3",
    )
    args = parser.parse_args(argv)
    params = parse_params(args.param)
    data = load(args.dataset, get_data_home(args.data_dir), args.rows, args.rows)
    if data is None:
        raise SystemExit(f"{args.dataset}: no odds/{args.dataset}.mat under the data folder")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"tabular_steps {args.dataset}: {len(data[0])} rows; load {load_average()}", flush=True)
    curves: dict[str, list] = {name: [] for name in args.detectors}
    for _, seed, X_train, X_test, y_test in splits({args.dataset: data}, args.seeds):
        if len(X_test) > args.test_rows:
            X_test, _, y_test, _ = train_test_split(
                X_test, y_test, train_size=args.test_rows, stratify=y_test, random_state=seed
            )
        forest = IsolationForest(random_state=seed).fit(X_train)
        auc = roc_auc_score(y_test, -forest.score_samples(X_test))
        print(f"split {seed}: {len(X_train)} training rows; IsolationForest {auc:.3f}")
        for name in args.detectors:
            detector = DETECTORS[name](random_state=seed, **params)
            snapshots = Snapshots(args.steps)
            start = time.perf_counter()
            with training_callbacks(snapshots):
                detector.fit(X_train)
            fit_s = time.perf_counter() - start
            curve = snapshot_curve(detector, snapshots.snapshots, X_train, X_test, y_test)
            curve.append(("end", roc_auc_score(y_test, -detector.score_samples(X_test))))
            curves[name].append(curve)
            text = " ".join(f"{steps}:{auc:.3f}" for steps, auc in curve)
            print(f"  {name}: {detector.n_epochs_} epochs, fit {fit_s:.1f} s; {text}", flush=True)
    print(f"mean ROC-AUC over {args.seeds} splits, by steps (load {load_average()}):")
    for name, runs in curves.items():
        means = np.mean([[auc for _, auc in curve] for curve in runs], axis=0)
        text = " ".join(f"{steps}:{m:.3f}" for (steps, _), m in zip(runs[0], means, strict=True))
        print(f"  {name}: {text}")
    return curves


if __name__ == "__main__":
    main()
