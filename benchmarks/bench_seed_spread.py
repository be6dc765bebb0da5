"""Seed luck alone: ROC-AUC spread over ``random_state`` with the split held fixed.

The ``adbench`` profile's seed std mixes two sources: each of its seeds
draws another 70/30 split *and* seeds the detector, so even a detector with
no randomness (KNN, ECOD, the distance to the median) shows a spread there,
from the test rows alone. This script keeps one split (``--split-seed``,
the profile's protocol: ADBench 70/30, at most 10,000 training rows,
standardised) and changes only ``random_state``: the standard deviation of
a set's ROC-AUC over those seeds is the detector's own dependence on its
seed. The table gives each set's mean ± std and, last, the means over sets::

    python benchmarks/bench_seed_spread.py --data-dir ../shared/datasets

Run it alone on an idle machine (about 20 minutes for the defaults on
two cores; musk is the slowest set).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from one_class import parse_params
from protocols import ADBENCH_SETS, OURS, load_tabular, tabular_split
from report import _table, summary, write_csv
from runner import contenders, evaluate

DETECTORS = (*OURS, "IsolationForest (sklearn)", "AutoEncoder (PyOD)")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--datasets", nargs="+", default=list(ADBENCH_SETS))
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="random_state 0 to SEEDS - 1")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS))
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="NAME=VALUE", help="parameters of ours"
    )
    parser.add_argument("--output", type=Path, help="also write the rows to this CSV file")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 for a spread")
    by_name = {c.name: c for c in contenders()}
    unknown = sorted(set(args.detectors) - set(by_name))
    if unknown:
        parser.error(f"unknown detectors {unknown}; choose from {sorted(by_name)}")
    ours = parse_params(args.set)
    torch.set_num_threads(1)  # as the profile runs them
    print(f"load average {os.getloadavg()[0]:.2f} at start", flush=True)
    rows = []
    for name in args.datasets:
        data = load_tabular(name, args.data_dir, shuttle_rows=5000)
        if data is None:
            print(f"{name}: not under {args.data_dir}, skipped", flush=True)
            continue
        split = tabular_split(*data, args.split_seed, protocol="adbench", max_train_rows=10_000)
        for detector in args.detectors:
            contender = by_name[detector]
            params = ours if contender.family == "skanomaly" else {}
            for seed in range(args.seeds):
                # The runner's rows, with only the detector's seed changing.
                row = {"part": "tabular", "dataset": name, "normal_class": "", "class_name": ""}
                row.update(seed=seed, detector=detector, family=contender.family)
                row.update(n_train=len(split[0]), n_test=len(split[1]))
                rows.append(evaluate(row, contender, params, "cpu", split, print))
    if args.output is not None:
        write_csv(rows, args.output)
    spread = spread_over_seeds(rows)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end\n")
    print(f"ROC-AUC mean ± std over random_state 0 to {args.seeds - 1}, "
          f"split seed {args.split_seed}\n")  # fmt: skip
    print(markdown(spread))
    return {"rows": rows, "summary": spread}


def spread_over_seeds(rows) -> dict:
    """``{detector: {dataset: (mean, std)}}`` of ROC-AUC over seeds, and ``"mean"`` over sets.

    A set where a fit failed has no entry (as in the profile's report).
    """
    out = {}
    for detector, per_set in summary(rows, "tabular").items():
        out[detector] = {name: stats[:2] for name, stats in per_set.items()}
        values = np.array(list(out[detector].values())).reshape(-1, 2)
        out[detector]["mean"] = tuple(float(v) for v in values.mean(0))
    return out


def markdown(spread) -> str:
    detectors = list(spread)
    names = list(dict.fromkeys(name for per_set in spread.values() for name in per_set))
    body = [
        [f"**mean over {len(names) - 1} sets**" if name == "mean" else name]
        + [
            "–"
            if name not in spread[d]
            else f"{spread[d][name][0]:.3f} ± {spread[d][name][1]:.3f}"
            for d in detectors
        ]
        for name in names
    ]
    return "\n".join(_table(["data set", *detectors], body))


if __name__ == "__main__":
    main()
