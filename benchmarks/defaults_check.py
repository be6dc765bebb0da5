"""Check that every detector's *default* settings train a useful detector.

Two small, fully offline checks, with ``random_state=0`` and otherwise the
library defaults:

- breast cancer (``sklearn.datasets.load_breast_cancer``): fit on 250 benign
  rows, score the remaining benign rows and all malignant ones;
- digits (``sklearn.datasets.load_digits``) as ``(n, 1, 8, 8)`` images: a 50%
  stratified split; each digit in turn is "normal": fit on that digit's
  training images, score the whole test half (other digits = anomalies).

For each detector it prints the ROC-AUC of ``-score_samples`` (anomalies
should score low), the fit time and the scoring time.  Run from the
repository root::

    python benchmarks/defaults_check.py
    python benchmarks/defaults_check.py --detectors AnoGAN --datasets digits --digits 0 1
    python benchmarks/defaults_check.py --detectors EGBAD --set disc_score=cross_entropy
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector

DETECTORS = {
    "AnoGAN": AnoGANDetector,
    "EGBAD": EGBADDetector,
    "GANomaly": GANomalyDetector,
}


def breast_cancer_split():
    """250 benign training rows; the other benign rows and all malignant ones to test."""
    X, y = load_breast_cancer(return_X_y=True)
    benign = np.random.default_rng(0).permutation(np.flatnonzero(y == 1))
    test = np.r_[benign[250:], np.flatnonzero(y == 0)]
    return X[benign[:250]], X[test], (y[test] == 0).astype(int)


def run(detector, X_train, X_test, is_anomaly):
    """Fit, score; return (ROC-AUC, fit seconds, score seconds)."""
    start = time.perf_counter()
    detector.fit(X_train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = detector.score_samples(X_test)
    score_s = time.perf_counter() - start
    return roc_auc_score(is_anomaly, -scores), fit_s, score_s


def check_breast_cancer(cls, params):
    auc, fit_s, score_s = run(cls(**params), *breast_cancer_split())
    print(f"  breast cancer: ROC-AUC {auc:.3f}   fit {fit_s:6.1f} s   score {score_s:6.2f} s")


def check_digits(cls, params, digits):
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=0
    )
    results = []
    for digit in digits:
        result = run(cls(**params), X_train[y_train == digit], X_test, y_test != digit)
        results.append(result)
        print(
            f"  digit {digit}: ROC-AUC {result[0]:.3f}   fit {result[1]:6.1f} s   "
            f"score {result[2]:6.2f} s",
            flush=True,
        )
    auc, fit_s, score_s = np.mean(results, axis=0)
    print(
        f"  digits mean over {len(digits)}: ROC-AUC {auc:.3f}   fit {fit_s:6.1f} s   "
        f"score {score_s:6.2f} s (per digit)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=list(DETECTORS))
    datasets = ["breast_cancer", "digits"]
    parser.add_argument("--datasets", nargs="+", choices=datasets, default=datasets)
    parser.add_argument("--digits", nargs="+", type=int, default=list(range(10)))
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="override a parameter (a Python literal), to compare with the defaults",
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, value = item.split("=", 1)
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value
    params = {"random_state": 0, "device": args.device, **overrides}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, params {params}")
    for name in args.detectors:
        print(f"{name}Detector", flush=True)
        if "breast_cancer" in args.datasets:
            check_breast_cancer(DETECTORS[name], params)
        if "digits" in args.datasets:
            check_digits(DETECTORS[name], params, args.digits)


if __name__ == "__main__":
    main()
