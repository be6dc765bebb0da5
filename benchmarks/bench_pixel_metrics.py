"""Defect localisation on synthetic defects: image and pixel metrics.

Builds an MVTec-like test set from one class of a data set: held-out
normal images, and as many other held-out normal images with one synthetic
defect each (scratch, blob or cut-and-paste patch,
``skanomaly.datasets.make_synthetic_defects``) and its mask. Trains each
detector on the class's training images and reports, on the test set:

- image ROC-AUC of the anomaly score (defective vs normal images);
- pixel ROC-AUC and AUPRO (to 30% false-positive rate) of ``anomaly_map``
  against the masks (``skanomaly.metrics``);

beside the trivial baseline ``|x - mean training image|`` (its image score:
the map's mean, an L1 distance). Data sets: scikit-learn's 8x8 digits (the
digit 0 normal) and Fashion-MNIST (sneakers normal) from ``--data-dir``
(default ``$SKANOMALY_DATA``, else ``~/skanomaly_data``), skipped with a
line saying so when absent.

Small settings by default (digits: 150 training images of which 90 are
zeros, 30 + 30 test images, 60 epochs, half a minute; Fashion-MNIST: 300
training images, 50 + 50 test images, each detector's own budget
(``n_epochs="auto"``), about four and a half minutes on two busy CPU
cores, half of it EGBAD)::

    OMP_NUM_THREADS=1 python benchmarks/bench_pixel_metrics.py --data digits
    python benchmarks/bench_pixel_metrics.py --data fashion --n-train 1000 --epochs 30
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly.datasets import get_data_home, load_fashion_mnist, make_synthetic_defects
from skanomaly.metrics import aupro, pixel_roc_auc

# Per data set defaults: digits has about 90 zeros in each half. On
# Fashion-MNIST the detectors train for their own budgets ("auto"): 15
# epochs (75 steps) left AnoGAN and EGBAD below chance.
DEFAULTS = {
    "digits": {"n_train": 150, "n_test": 30, "epochs": 60},
    "fashion": {"n_train": 300, "n_test": 50, "epochs": "auto"},
}


def epochs(text: str):
    """``--epochs``: a number, or ``auto`` (each detector's default budget)."""
    return text if text == "auto" else int(text)


def load(name: str, data_dir):
    """Training and test images of the data set, ``(n, 1, H, W)`` float in [0, 1], and labels."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X.reshape(-1, 1, 8, 8) / 16.0
        return X[::2], y[::2], X[1::2], y[1::2], 0
    X_train, y_train = load_fashion_mnist(data_dir, train=True, download=False)
    X_test, y_test = load_fashion_mnist(data_dir, train=False, download=False)
    scale = lambda X: X[:, None].astype(np.float64) / 255.0  # noqa: E731
    return scale(X_train), y_train, scale(X_test), y_test, 7  # 7 = sneaker


def make_split(name: str, data_dir, n_train: int, n_test: int, seed: int):
    X_train, y_train, X_test, y_test, normal = load(name, data_dir)
    rng = np.random.default_rng(seed)
    train = rng.permutation(np.flatnonzero(y_train == normal))[:n_train]
    held_out = rng.permutation(np.flatnonzero(y_test == normal))[: 2 * n_test]
    good, to_damage = X_test[held_out[:n_test]], X_test[held_out[n_test:]]
    defects = make_synthetic_defects(to_damage, random_state=seed)
    X_eval = np.r_[good, defects.images]
    y_eval = np.r_[np.zeros(len(good), int), np.ones(len(to_damage), int)]
    masks = np.r_[np.zeros((len(good), *good.shape[-2:]), bool), defects.masks]
    return X_train[train], X_eval, y_eval, masks


def evaluate(image_scores, maps, y, masks):
    return (
        roc_auc_score(y, image_scores),
        pixel_roc_auc(masks, maps),
        aupro(masks, maps, max_fpr=0.3),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", nargs="+", choices=["digits", "fashion"], default=["digits", "fashion"]
    )
    parser.add_argument("--n-train", type=int, help="normal training images (at most)")
    parser.add_argument("--n-test", type=int, help="normal and defective test images each")
    parser.add_argument("--epochs", type=epochs, help='a number, or "auto"')
    parser.add_argument("--n-filters", type=int, default=16)
    parser.add_argument("--latent-steps", type=int, default=50, help="AnoGAN's search")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data-dir", help="default: $SKANOMALY_DATA, else ~/skanomaly_data")
    args = parser.parse_args(argv)
    data_dir = get_data_home(args.data_dir)

    print(
        f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at start; "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    detectors = {
        "AnoGAN": (AnoGANDetector, {"latent_steps": args.latent_steps}),
        "EGBAD": (EGBADDetector, {}),
        "GANomaly": (GANomalyDetector, {}),
        # The map is a reconstruction error: so is this score (beyond the paper).
        "GANomaly rec": (GANomalyDetector, {"anomaly_score": "reconstruction"}),
    }
    for name in args.data:
        if name == "fashion" and not (data_dir / "FashionMNIST" / "raw").is_dir():
            print(f"\nfashion: skipped, no Fashion-MNIST under {data_dir}")
            continue
        settings = {k: getattr(args, k) or v for k, v in DEFAULTS[name].items()}
        common = {"n_epochs": settings["epochs"], "n_filters": args.n_filters, "device": "cpu"}
        rows: dict[str, list] = {}
        for seed in args.seeds:
            X_fit, X_eval, y_eval, masks = make_split(
                name, data_dir, settings["n_train"], settings["n_test"], seed
            )
            # The trivial baseline: distance to the mean training image.
            maps = np.abs(X_eval - X_fit.mean(axis=0)).mean(axis=1)
            metrics = evaluate(maps.mean(axis=(1, 2)), maps, y_eval, masks)
            rows.setdefault("|x - mean|", []).append((*metrics, 0.0, 0.0))
            for label, (cls, params) in detectors.items():
                start = time.perf_counter()
                detector = cls(random_state=seed, **common, **params).fit(X_fit)
                fit_s = time.perf_counter() - start
                start = time.perf_counter()
                scores = -detector.score_samples(X_eval)
                maps = detector.anomaly_map(X_eval)
                score_s = time.perf_counter() - start
                metrics = evaluate(scores, maps, y_eval, masks)
                rows.setdefault(label, []).append((*metrics, fit_s, score_s))
        shape = "x".join(map(str, X_eval.shape[-2:]))
        print(
            f"\n{name} ({shape}): {len(X_fit)} normal training images; test "
            f"{np.sum(y_eval == 0)} normal + {np.sum(y_eval)} with synthetic defects; "
            f"n_epochs {settings['epochs']}, n_filters "
            f"{args.n_filters}, AnoGAN latent_steps {args.latent_steps}; "
            f"mean over seeds {args.seeds}"
        )
        header = ("method", "image AUC", "pixel AUC", "AUPRO", "fit s", "score s")
        print("{:<14}{:>10}{:>10}{:>8}{:>8}{:>9}".format(*header))
        for label, values in rows.items():
            image, pixel, pro, fit_s, score_s = np.mean(values, axis=0)
            print(
                f"{label:<14}{image:>10.3f}{pixel:>10.3f}{pro:>8.3f}{fit_s:>8.1f}{score_s:>9.1f}"
            )
    print(f"\nload average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
