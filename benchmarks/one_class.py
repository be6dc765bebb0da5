"""One detector, one class normal at a time: ROC-AUC, reconstruction diversity, times.

A quick check of a detector's settings on Fashion-MNIST (from ``--data-dir``,
default ``$SKANOMALY_DATA``, else ``~/skanomaly_data``) or scikit-learn's
8x8 digits, outside the full benchmark (``run_benchmark.py``)::

    python benchmarks/one_class.py GANomalyDetector n_epochs=10 n_filters=16 --classes 0,1
    python benchmarks/one_class.py EGBADDetector n_filters=32 cycle_weight=0 --data digits

Constructor parameters are given as ``name=value`` (values read as JSON when
they parse). Fashion-MNIST: ``--ntrain`` training images of the class, a
fixed random ``--ntest`` test images of all classes. Digits: a 50/50 split.
*Diversity* is the per-pixel spread of the reconstructions of normal test
images divided by that of the images themselves: near 0 when the model
reconstructs the same image whatever the input, about 1 when
reconstructions follow their inputs.

``--every-epoch`` also prints the ROC-AUC the fit would have had, had it
stopped after each epoch: the weights are kept at the end of every epoch,
and each copy is finished as ``fit`` finishes (batch-norm statistics
recomputed, score scales set) and scores the test images. Nothing in a fit
depends on ``n_epochs`` but the number of epochs, so the row for epoch k
is a fit with ``n_epochs=k``: one fit gives a whole ROC-AUC-by-budget
curve, for choosing defaults such as ``n_epochs="auto"``::

    python benchmarks/one_class.py GANomalyDetector n_epochs=8 --ntrain 6000 --every-epoch
"""

import argparse
import json
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

import skanomaly
from skanomaly._training import Callback, training_callbacks
from skanomaly.datasets import get_data_home, load_fashion_mnist


def _data(args):
    if args.data == "digits":
        X, y = load_digits(return_X_y=True)
        X = X.reshape(-1, 1, 8, 8)
        order = np.random.default_rng(args.seed).permutation(len(X))
        half = len(X) // 2
        return X[order[:half]], y[order[:half]], X[order[half:]], y[order[half:]]
    if not (args.data_dir / "FashionMNIST" / "raw").is_dir():
        raise SystemExit(f"fashion_mnist: no FashionMNIST/raw under {args.data_dir} (--data-dir)")
    X_train, y_train = load_fashion_mnist(args.data_dir, train=True, download=False)
    X_test, y_test = load_fashion_mnist(args.data_dir, train=False, download=False)
    X_train = np.asarray(X_train, dtype=np.float32).reshape(-1, 1, 28, 28)
    X_test = np.asarray(X_test, dtype=np.float32).reshape(-1, 1, 28, 28)
    test = np.random.default_rng(args.seed).choice(len(X_test), args.ntest, replace=False)
    return X_train, y_train, X_test[test], y_test[test]


def parse_params(items) -> dict:
    """``["name=value", ...]`` -> constructor parameters; values read as JSON when they parse.

    >>> parse_params(["n_epochs=3", "disc_score=cross_entropy", "hidden_dims=[8, 4]"])
    {'n_epochs': 3, 'disc_score': 'cross_entropy', 'hidden_dims': [8, 4]}
    """
    params = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


class Snapshots(Callback):
    """A training callback that keeps ``(steps so far, network weights)`` during ``fit``.

    At the end of every epoch, or, if ``at_steps`` is given, after each of
    those numbers of optimiser steps. Fit inside
    ``skanomaly._training.training_callbacks(snapshots)``; the fit itself is
    unchanged.
    """

    def __init__(self, at_steps=()):
        self.snapshots, self.steps, self.at_steps = [], 0, set(at_steps)

    def on_step_end(self, loop, losses):
        self.steps += 1
        if self.steps in self.at_steps:
            self.snapshots.append((self.steps, loop.detector._network_state()))

    def on_epoch_end(self, loop, epoch, means):
        if not self.at_steps:
            self.snapshots.append((self.steps, loop.detector._network_state()))
        return False


def snapshot_curve(detector, snapshots, X_fit, X_test, is_anomaly):
    """``[(steps, ROC-AUC)]`` of each snapshot's weights, finished as ``fit`` finishes them.

    The fitted weights are put back at the end.
    """
    X_fit, _ = detector._validate_input(X_fit, reset=False)
    data = detector._to_tensor(X_fit, clip_to_bounds=True).to(detector.device_)

    def finish(state):
        for name, module in detector._networks().items():
            module.load_state_dict(state[name])
        detector._calibrate_batch_norm(data)
        detector._fit_score_scale(data)

    final = detector._network_state()
    curve = []
    for steps, state in snapshots:
        finish(state)
        curve.append((steps, roc_auc_score(is_anomaly, -detector.score_samples(X_test))))
    finish(final)
    return curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detector", help="class name, e.g. GANomalyDetector")
    parser.add_argument("params", nargs="*", help="constructor parameters as name=value")
    parser.add_argument("--data", choices=["fashion_mnist", "digits"], default="fashion_mnist")
    parser.add_argument("--data-dir", help="default: $SKANOMALY_DATA, else ~/skanomaly_data")
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--ntrain", type=int, default=500)
    parser.add_argument("--ntest", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--every-epoch", action="store_true", help="also the ROC-AUC after each epoch"
    )
    args = parser.parse_args(argv)
    args.data_dir = get_data_home(args.data_dir)

    import torch

    torch.set_num_threads(args.threads)
    params = parse_params(args.params)
    X_train, y_train, X_test, y_test = _data(args)
    cls = getattr(skanomaly, args.detector)
    aucs = []
    for c in map(int, args.classes.split(",")):
        members = np.flatnonzero(y_train == c)
        rng = np.random.default_rng(args.seed)
        members = rng.choice(members, min(args.ntrain, len(members)), replace=False)
        detector = cls(random_state=args.seed, device="cpu", **params)
        watch = [Snapshots()] if args.every_epoch else []
        start = time.perf_counter()
        with training_callbacks(*watch):
            detector.fit(X_train[members])
        fit_s = time.perf_counter() - start
        if watch:
            curve = snapshot_curve(
                detector, watch[0].snapshots, X_train[members], X_test, y_test != c
            )
            for epoch, (steps, auc) in enumerate(curve, start=1):
                print(f"  after epoch {epoch} ({steps} steps): ROC-AUC {auc:.3f}", flush=True)
        start = time.perf_counter()
        auc = roc_auc_score(y_test != c, -detector.score_samples(X_test))
        score_s = time.perf_counter() - start
        normal = X_test[y_test == c][:200]
        diversity = detector.reconstruct(normal).std(0).mean() / normal.std(0).mean()
        print(
            f"{args.detector} class {c}: ROC-AUC {auc:.3f}, diversity {diversity:.2f}, "
            f"fit {fit_s:.1f} s, score {score_s:.1f} s, epochs {detector.n_epochs_trained_}",
            flush=True,
        )
        aucs.append(auc)
    print(f"mean ROC-AUC {np.mean(aucs):.3f} with {params}")


if __name__ == "__main__":
    main()
