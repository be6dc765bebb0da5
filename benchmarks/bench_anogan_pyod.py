"""AnoGAN against PyOD's AnoGAN, both at their defaults, in one run on the same splits.

``skanomaly.AnoGANDetector()`` and ``pyod.models.anogan.AnoGAN()`` are each
fitted and then scored, one after the other in this process, on the same
splits of the tabular sets of the benchmark (PyOD's protocol): ODDS
breastw, glass and shuttle (``skanomaly.datasets.load_odds``; shuttle as a
fixed stratified subsample of ``--shuttle-rows`` rows) and scikit-learn's
breast cancer (malignant = outlier); 1,000 shuttle rows by default, as in
the CPU profile of ``benchmarks/run_benchmark.py``.  Each split is 60/40 stratified, the
features standardised on the training part; both detectors are fitted on
the contaminated training part and scored on the test part.

Timing follows the project's protocol: before anything is timed, each
detector makes one untimed fit and score in this process (at its defaults,
on 64 training rows), and the load average is printed beside the times.
The table gives fit + score seconds and ROC-AUC for each, and the speed
ratio (PyOD's time over skanomaly's), per data set and in total.

Run it on an otherwise idle machine, from the repository root. The ODDS
files are read from ``--data-dir`` (default: ``$SKANOMALY_DATA``, else
``~/skanomaly_data``; ``skanomaly.datasets.get_data_home``); sets whose
files are absent are skipped, with a line saying so::

    python benchmarks/bench_anogan_pyod.py                     # 1 seed
    python benchmarks/bench_anogan_pyod.py --seeds 3 --json anogan_pyod.json
    python benchmarks/bench_anogan_pyod.py --quick             # tiny settings: a smoke test

``--quick`` trains both for two epochs and searches briefly: not the
defaults, its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from one_class import parse_params
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import AnoGANDetector
from skanomaly.datasets import get_data_home, load_odds

DATASETS = ("breastw", "glass", "shuttle", "breast_cancer")
OURS, PYOD = "AnoGAN (skanomaly)", "AnoGAN (PyOD)"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def load(name: str, data_dir: Path, shuttle_rows: int, max_rows: int = 0):
    """``X, y`` (1 = outlier) of a data set, or ``None`` when its file is absent.

    Shuttle is cut to ``shuttle_rows`` and every set to ``max_rows`` rows
    (0: no cut), each by one fixed stratified subsample.
    """
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        y = (y == 0).astype(int)  # malignant is the minority: the outliers
    else:
        path = data_dir / "odds" / f"{name}.mat"
        if not path.exists():
            return None
        X, y = load_odds(path)
    # PyOD's AnoGAN at its defaults searches a latent code for every training
    # row, one row at a time: all of shuttle would take it hours.
    cap = min(r for r in (shuttle_rows if name == "shuttle" else 0, max_rows, len(X)) if r > 0)
    if cap < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=cap, stratify=y, random_state=0)
    return X, y


def contenders(device: str, quick: bool, variants=()) -> dict:
    """Name -> ``make(seed)`` of each detector: the defaults, or tiny settings.

    ``variants`` are extra skanomaly settings (dicts of parameters), each
    run beside the defaults as ``AnoGAN (skanomaly, name=value)``.
    """
    from pyod.models.anogan import AnoGAN

    ours = {"n_epochs": 2, "latent_steps": 5} if quick else {}
    pyod = {"epochs": 2, "epochs_query": 2} if quick else {}

    def make_ours(params):
        return lambda seed: AnoGANDetector(**{**ours, **params}, random_state=seed, device=device)

    makers = {OURS: make_ours({}), PYOD: lambda seed: AnoGAN(**pyod, device=device)}
    for params in variants:
        label = ", ".join(f"{k}={v}" for k, v in params.items())
        makers[f"AnoGAN (skanomaly, {label})"] = make_ours(params)
    return makers


def fit_and_score(name: str, make, seed: int, X_train, X_test):
    """Fit, then score the test part; returns (anomaly scores, fit s, score s)."""
    detector = make(seed)
    cuda = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    # PyOD's AnoGAN draws from the global torch generator: seed it inside a
    # fork, so its runs repeat and the draws do not leak into the next fit.
    with torch.random.fork_rng(devices=cuda), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        start = time.perf_counter()
        detector.fit(X_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        if name != PYOD:
            scores = -detector.score_samples(X_test)
        else:
            scores = detector.decision_function(X_test)
        score_s = time.perf_counter() - start
    return np.asarray(scores, dtype=np.float64), fit_s, score_s


def splits(data: dict, n_seeds: int):
    """Yield ``(name, seed, X_train, X_test, y_test)``: 60/40, standardised on train."""
    from pyod.utils.utility import standardizer

    for seed in range(n_seeds):
        for name, (X, y) in data.items():
            X_train, X_test, _, y_test = train_test_split(
                X, y, test_size=0.4, stratify=y, random_state=seed
            )
            X_train, X_test = standardizer(X_train, X_test)
            yield name, seed, X_train, X_test, y_test


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def summary(rows: list[dict], names) -> list[dict]:
    """Per data set (and in total): mean ROC-AUC, summed fit + score time, the ratio."""
    out = []
    for dataset in [*dict.fromkeys(r["dataset"] for r in rows), "all"]:
        chosen = [r for r in rows if dataset in ("all", r["dataset"])]
        entry = {"dataset": dataset, "n_train": chosen[0]["n_train"] if dataset != "all" else ""}
        for name in names:
            own = [r for r in chosen if r["detector"] == name]
            entry[f"{name} ROC-AUC"] = _mean([r["roc_auc"] for r in own])
            entry[f"{name} s"] = sum(r["fit_s"] + r["score_s"] for r in own)
        for name in names:
            if name != PYOD:
                entry[f"speed ratio {name}"] = entry[f"{PYOD} s"] / entry[f"{name} s"]
        out.append(entry)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir", type=Path, help="folder with odds/*.mat; default: get_data_home()"
    )
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--seeds", type=int, default=1, help="splits 0 .. seeds-1")
    parser.add_argument(
        "--shuttle-rows", type=int, default=1000, help="stratified subsample; 0: all 49,097 rows"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, or auto (both detectors)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true", help="tiny settings, not the defaults")
    parser.add_argument("--json", metavar="OUT", help="also save the results as JSON")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        type=lambda spec: parse_params(spec.split(",")),  # each variant: a dict of parameters
        metavar="NAME=VALUE[,NAME=VALUE]",
        help="extra skanomaly AnoGAN settings run beside the defaults, e.g. latent_steps=0",
    )
    args = parser.parse_args(argv)
    args.data_dir = get_data_home(args.data_dir)

    from skanomaly._runtime import resolve_device

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    makers = contenders(device, args.quick, args.variant)
    start_load = load_average()
    print(
        "bench_anogan_pyod"
        + (" --quick (not the defaults: the numbers mean nothing)" if args.quick else "")
    )
    print(
        f"  device {device}, torch {torch.__version__}, {os.cpu_count()} logical cores, "
        f"torch threads {torch.get_num_threads()} (skanomaly trains and scores tabular "
        f"models with one thread; PyOD uses torch's setting)"
    )
    print(f"  load average at start (1, 5, 15 min, as uptime prints them): {start_load}")

    data = {}
    for name in args.datasets:
        loaded = load(name, args.data_dir, args.shuttle_rows, max_rows=150 if args.quick else 0)
        if loaded is None:
            print(f"  {name}: {args.data_dir / 'odds' / (name + '.mat')} not found, skipped")
            continue
        data[name] = loaded
        X, y = loaded
        print(f"  {name}: {X.shape[0]} rows, {X.shape[1]} features, {y.mean():.1%} outliers")
    if not data:
        raise SystemExit("no data set found; see --data-dir")

    # Warm: one untimed fit and score of each detector in this process first.
    _, _, X_train, X_test, _ = next(splits(data, 1))
    for name, make in makers.items():
        fit_and_score(name, make, 0, X_train[:64], X_test[:64])

    rows = []
    for dataset, seed, X_train, X_test, y_test in splits(data, args.seeds):
        for name, make in makers.items():
            scores, fit_s, score_s = fit_and_score(name, make, seed, X_train, X_test)
            finite = bool(np.all(np.isfinite(scores)))
            row = {
                "dataset": dataset,
                "seed": seed,
                "detector": name,
                "n_train": len(X_train),
                "n_test": len(X_test),
                "roc_auc": roc_auc_score(y_test, scores) if finite else math.nan,
                "average_precision": average_precision_score(y_test, scores)
                if finite
                else math.nan,
                "fit_s": fit_s,
                "score_s": score_s,
            }
            rows.append(row)
            print(
                f"  {dataset:>13} seed {seed} {name:<19} ROC-AUC {row['roc_auc']:.3f}  "
                f"AP {row['average_precision']:.3f}  fit {fit_s:7.2f} s  score {score_s:6.2f} s"
            )

    table = summary(rows, makers)
    print(f"\nfit + score seconds (summed over {args.seeds} seed(s)) and mean ROC-AUC")
    ours = [name for name in makers if name != PYOD]
    columns = (
        [f"{name} ROC-AUC" for name in makers]
        + [f"{name} s" for name in makers]
        + [f"speed ratio {name}" for name in ours]
    )
    print("| data set | train rows | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for e in table:
        cells = [
            f"{e[c]:.1f}x"
            if c.startswith("speed")
            else f"{e[c]:.1f}"
            if c.endswith(" s")
            else f"{e[c]:.3f}"
            for c in columns
        ]
        print(f"| {e['dataset']} | {e['n_train']} | " + " | ".join(cells) + " |")
    end_load = load_average()
    print(f"\nload average at end (1, 5, 15 min): {end_load}")
    results = {
        "command": "python benchmarks/bench_anogan_pyod.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "device": device,
        "torch threads": torch.get_num_threads(),
        "load average at start": start_load,
        "load average at end": end_load,
        "quick": args.quick,
        "rows": rows,
        "summary": table,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"results saved to {args.json}")
    return results


if __name__ == "__main__":
    main()
