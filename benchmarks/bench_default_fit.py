"""A default GANomaly fit against PyOD's AutoEncoder and IsolationForest, in one run.

One Fashion-MNIST class is normal: every detector is fitted at its defaults
on that class's training images (all 6,000 unless ``--ntrain``) and scores
a fixed stratified sample of ``--ntest`` test images of all classes (the
others are the anomalies). ``GANomalyDetector(image_shape=(28, 28))``
sees the images; PyOD's ``AutoEncoder`` and scikit-learn's
``IsolationForest`` see the flattened pixels, scaled to [0, 1]. Timing
follows the project's protocol: each detector first makes one untimed fit
(on 64 images; GANomaly for one epoch) in this process, and the load
average is printed beside the times. The table gives fit seconds, ROC-AUC,
and each fit's time as a multiple of the AutoEncoder's.

Run it on an otherwise idle machine::

    python benchmarks/bench_default_fit.py --classes 0 --json default-fit.json
    python benchmarks/bench_default_fit.py --classes 0 --ganomaly-epochs 1 2  # shorter fits too
    python benchmarks/bench_default_fit.py --precisions float32 bfloat16  # on a GPU
    python benchmarks/bench_default_fit.py --quick   # tiny: a smoke test

Fashion-MNIST is read from ``--data-dir`` (default: ``$SKANOMALY_DATA``,
else ``~/skanomaly_data``); without it the script exits with one line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from bench_throughput import add_precisions_argument
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import GANomalyDetector
from skanomaly._training import mixed_precision
from skanomaly.datasets import get_data_home, load_fashion_mnist, one_class_split

GANOMALY, AUTOENCODER, FOREST = "GANomaly", "AutoEncoder (PyOD)", "IsolationForest"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def contenders(quick: bool, ganomaly_epochs=(), precisions=("float32",), device="auto") -> dict:
    """Name -> (make(seed, warm), takes images, precision): each detector at its defaults.

    ``ganomaly_epochs`` adds GANomaly rows with those ``n_epochs``, beside
    the default's; ``precisions`` are the arithmetic of GANomaly's training
    steps, a row each (float32, the detectors' own, is named plainly).
    """
    from pyod.models.auto_encoder import AutoEncoder

    def ganomaly(n_epochs):
        def make(seed, warm):
            epochs = 1 if warm or (quick and n_epochs == "auto") else n_epochs
            return GANomalyDetector(
                image_shape=(28, 28), n_epochs=epochs, random_state=seed, device=device
            )

        return make

    variants = {
        f"{GANOMALY}, n_epochs={n}": (ganomaly(n), True, "float32") for n in ganomaly_epochs
    }
    by_precision = {
        GANOMALY if p == "float32" else f"{GANOMALY}, {p}": (ganomaly("auto"), True, p)
        for p in precisions
    }
    return {
        **by_precision,
        **variants,
        AUTOENCODER: (
            lambda seed, warm: AutoEncoder(
                epoch_num=1 if quick else 10, random_state=seed, verbose=0
            ),
            False,
            "float32",
        ),
        FOREST: (lambda seed, warm: IsolationForest(random_state=seed), False, "float32"),
    }


def anomaly_scores(detector, X) -> np.ndarray:
    if hasattr(detector, "score_samples"):  # scikit-learn convention: higher = normal
        return -detector.score_samples(X)
    return detector.decision_function(X)  # PyOD: higher = abnormal


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with FashionMNIST/raw")
    parser.add_argument("--classes", default="0", help="normal classes, e.g. 0,2")
    parser.add_argument("--ntrain", type=int, default=0, help="images of the class; 0: all")
    parser.add_argument("--ntest", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ganomaly-epochs",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also GANomaly with n_epochs=N (beside its default)",
    )
    add_precisions_argument(parser, "GANomaly's training steps")
    parser.add_argument("--device", default="auto", help="GANomaly's device (default: auto)")
    parser.add_argument("--quick", action="store_true", help="tiny settings, not the defaults")
    parser.add_argument("--json", metavar="OUT", help="also save the results as JSON")
    args = parser.parse_args(argv)
    data_dir = get_data_home(args.data_dir)
    if not (data_dir / "FashionMNIST" / "raw").is_dir():
        raise SystemExit(f"Fashion-MNIST not found under {data_dir}; see --data-dir")
    if args.quick:
        args.ntrain, args.ntest = 128, 200

    X_all, y_all = load_fashion_mnist(data_dir, train=True, download=False)
    X_test_all, y_test_all = load_fashion_mnist(data_dir, train=False, download=False)
    X_all, X_test_all = X_all / np.float32(255), X_test_all / np.float32(255)
    X_test_all, _, y_test_all, _ = train_test_split(
        X_test_all, y_test_all, train_size=args.ntest, stratify=y_test_all, random_state=0
    )
    makers = contenders(args.quick, args.ganomaly_epochs, args.precisions, args.device)
    start_load = load_average()
    print(f"bench_default_fit{' --quick (not the defaults)' if args.quick else ''}")
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"  torch {torch.__version__}, {os.cpu_count()} logical cores, {gpu}")
    print(f"  load average at start (1, 5, 15 min): {start_load}")

    rows = []
    for c in (int(c) for c in args.classes.split(",")):
        X_fit, X_eval, y_eval = one_class_split(X_all, y_all, X_test_all, y_test_all, c)
        if args.ntrain:
            X_fit = X_fit[: args.ntrain]
        images = {
            True: (X_fit[:, None], X_eval[:, None]),
            False: (X_fit.reshape(len(X_fit), -1), X_eval.reshape(len(X_eval), -1)),
        }
        for name, (make, takes_images, precision) in makers.items():
            X_train, X_test = images[takes_images]
            with mixed_precision(precision):
                make(args.seed, True).fit(X_train[:64])  # warm: untimed
                detector = make(args.seed, False)
                start = time.perf_counter()
                detector.fit(X_train)
                fit_s = time.perf_counter() - start
            auc = roc_auc_score(y_eval, anomaly_scores(detector, X_test))
            row = {"class": c, "detector": name, "n_train": len(X_train)}
            epochs = getattr(detector, "n_epochs_trained_", None)  # GANomaly's
            rows.append({**row, "fit_s": fit_s, "roc_auc": auc, "epochs": epochs})
            print(f"  class {c} {name:<20} fit {fit_s:8.2f} s  ROC-AUC {auc:.3f}", flush=True)

    print("\n| class | train images | detector | epochs | fit s | × AutoEncoder | ROC-AUC |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        base = next(r for r in rows if r["class"] == row["class"] and r["detector"] == AUTOENCODER)
        row["times_autoencoder"] = row["fit_s"] / base["fit_s"]
        print(
            f"| {row['class']} | {row['n_train']} | {row['detector']} | {row['epochs'] or '–'} | "
            f"{row['fit_s']:.1f} | "
            f"{row['times_autoencoder']:.3g}× | {row['roc_auc']:.3f} |"
        )
    end_load = load_average()
    print(f"\nload average at end (1, 5, 15 min): {end_load}")
    results = {"load average at start": start_load, "load average at end": end_load, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
