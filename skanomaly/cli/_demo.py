"""``skanomaly demo``: the detectors on one digit of scikit-learn's 8x8 digits."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._registry import DETECTOR_NAMES, detector_class
from ._common import auc_ap, check_device, check_flags, check_writable_folder
from ._params import check_parameter_ranges, demo_params
from ._report import save_figure


def run(args) -> int:
    """Train each detector on one digit, print a ROC-AUC table, write the pictures."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from ..datasets import one_class_split

    check_parameter_ranges(args)
    check_flags(args, n_images=(1, 20))
    check_device(args.device)
    names = args.detectors or list(DETECTOR_NAMES)
    output = Path(args.output)
    check_writable_folder(output, "pictures")
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=args.random_state
    )
    X_fit, X_eval, y_eval = one_class_split(X_train, y_train, X_test, y_test, args.digit)
    print(
        f"sklearn digits (8x8): training on {len(X_fit)} images of the digit {args.digit}; "
        f"testing on {len(X_eval)} held-out images, {int(y_eval.sum())} of other digits "
        "(anomalies)."
    )
    output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        detector = detector_class(name)(**demo_params(args))
        row, scores = _evaluate(detector, X_fit, X_eval, y_eval)
        rows.append(row)
        _save_ranking(args, detector, X_eval, y_test, scores, output / f"demo_{name}.png")
    _print_table(rows)
    print(f"\nPictures: {', '.join(str(output / f'demo_{n}.png') for n in names)}")
    return 0


def _evaluate(detector, X_fit, X_eval, y_eval):
    """Fit ``detector``: its row of the table, and the test images' anomaly scores.

    The row: ``(name, ROC-AUC, AP, diversity, epochs, fit seconds)``.
    """
    start = time.perf_counter()
    detector.fit(X_fit)
    fit_time = time.perf_counter() - start
    scores = -detector.score_samples(X_eval)
    auc, ap = auc_ap(y_eval, scores)
    # How much reconstructions of normal test digits vary, relative to the
    # digits themselves: near 0 when the model draws the same digit for
    # every input, about 1 when reconstructions follow their inputs.
    normal = X_eval[y_eval == 0]
    diversity = detector.reconstruct(normal).std(axis=0).mean() / normal.std(axis=0).mean()
    return (type(detector).__name__, auc, ap, diversity, detector.n_epochs_, fit_time), scores


def _save_ranking(args, detector, X_eval, y_test, scores, path: Path) -> None:
    """The ``--n-images`` most and least anomalous test images, side by side."""
    from ..plot import plot_reconstructions

    order = np.argsort(-scores, kind="stable")
    k = args.n_images
    shown = np.r_[order[:k], order[-k:]]
    titles = [
        f"{'most' if j < k else 'least'}\n'{y_test[i]}' {scores[i]:.2g}"
        for j, i in enumerate(shown)
    ]
    fig = plot_reconstructions(detector, X_eval[shown], titles=titles)
    fig.suptitle(
        f"{type(detector).__name__} trained on '{args.digit}': the {k} most and {k} least "
        "anomalous test digits"
    )
    save_figure(fig, path)


def _print_table(rows) -> None:
    print(f"\n{'detector':<18}{'ROC-AUC':>9}{'AP':>8}{'diversity':>11}{'epochs':>8}{'fit (s)':>9}")
    for detector_name, auc, ap, diversity, epochs, fit_time in rows:
        print(
            f"{detector_name:<18}{auc:>9.3f}{ap:>8.3f}{diversity:>11.2f}{epochs:>8}"
            f"{fit_time:>9.1f}"
        )
    print(
        "diversity: spread of the reconstructions of normal test digits across inputs, "
        "relative to the digits' own (1 = they follow their inputs)."
    )
