"""Default fit time on a 10,000-row table, beside IsolationForest and PyOD's AutoEncoder.

ADBench's shuttle (``datasets/adbench``), the ``adbench`` profile's split of
one seed (70/30, 10,000 training rows with their anomalies), every
detector at its defaults, one torch thread (as the benchmark runs them).
Each detector is fitted once to warm up, then ``--repeats`` times; the
table gives the median and range of the timed fits and the ratio of the
medians to IsolationForest's and the AutoEncoder's, measured in this one
run. Run it on an idle machine: the load average is printed at the start
and the end::

    python benchmarks/bench_tabular_fit.py --data-dir ../shared/datasets
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from protocols import load_tabular, tabular_split
from runner import contenders

NAMES = (
    "GANomaly (skanomaly)",
    "EGBAD (skanomaly)",
    "AnoGAN (skanomaly)",
    "IsolationForest (sklearn)",
    "AutoEncoder (PyOD)",
)


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with adbench/")
    parser.add_argument("--dataset", default="adbench/shuttle")
    parser.add_argument("--rows", type=int, default=10_000, help="training rows (at most)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--detectors", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_tabular(args.dataset, args.data_dir, shuttle_rows=0)
    if data is None:
        parser.error(f"{args.dataset} is not under {args.data_dir}")
    X_train, _, _ = tabular_split(*data, 0, protocol="adbench", max_train_rows=args.rows)
    print(f"{args.dataset}: {X_train.shape[0]} x {X_train.shape[1]} training rows; "
          f"load average {load_average()} at start", flush=True)  # fmt: skip
    by_name = {c.name: c for c in contenders()}
    seconds = {}
    for name in args.detectors:
        contender = by_name[name]
        times = []
        for repeat in range(args.repeats + 1):  # the first fit warms up
            estimator = contender.make({}, repeat, "cpu")
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator.fit(X_train)
            times.append(time.perf_counter() - start)
        seconds[name] = np.array(times[1:])
        low, high = seconds[name].min(), seconds[name].max()
        median = np.median(seconds[name])
        print(f"  {name:<28} median {median:6.2f} s (min {low:.2f}, max {high:.2f})", flush=True)
    medians = {name: float(np.median(t)) for name, t in seconds.items()}
    print(f"\n| detector | fit s (median of {args.repeats}) | × IsolationForest | × AutoEncoder |")
    print("|---|---|---|---|")
    for name, median in medians.items():
        ratios = [
            f"{median / medians[base]:.1f}" if base in medians else "—"
            for base in ("IsolationForest (sklearn)", "AutoEncoder (PyOD)")
        ]
        print(f"| {name} | {median:.2f} | {ratios[0]} | {ratios[1]} |")
    print(f"\nload average {load_average()} at the end")
    return medians


if __name__ == "__main__":
    main()
