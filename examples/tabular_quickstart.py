"""
Tabular quickstart
==================

Every skanomaly detector on the breast cancer data: each one is trained on
benign tumours only and scored on held-out benign and all malignant ones
(the anomalies), like any scikit-learn outlier detector: ``fit``,
``score_samples``, ``predict``.

Run ``python examples/tabular_quickstart.py`` for the full training
(``n_epochs="auto"``, a few minutes on two CPU cores);
``SKANOMALY_EXAMPLE_FAST=1`` trains for 20 epochs only, as in this page.
"""

import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import average_precision_score, roc_auc_score

import skanomaly
from skanomaly.plot import plot_score_histogram

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"

# %%
# The data: benign tumours to train on, held-out benign and all malignant
# tumours to test on.

X, y = load_breast_cancer(return_X_y=True)
anomaly = y == 0  # malignant
rng = np.random.default_rng(0)
benign = rng.permutation(np.flatnonzero(~anomaly))
train = benign[:250]
test = np.r_[benign[250:], np.flatnonzero(anomaly)]
X_train, X_test, y_test = X[train], X[test], anomaly[test].astype(int)
print(f"train: {len(X_train)} benign rows; test: {len(X_test)} rows, {y_test.sum()} malignant")

# %%
# Fit each detector and rank the test rows by anomaly score.
detectors = [getattr(skanomaly, name) for name in skanomaly.__all__ if name.endswith("Detector")]
print(f"{'detector':<18}{'ROC-AUC':>9}{'AP':>8}{'flagged':>9}{'fit (s)':>9}")
fig, axes = plt.subplots(1, len(detectors), figsize=(4 * len(detectors), 3.2), squeeze=False)
for cls, ax in zip(detectors, axes[0], strict=True):
    detector = cls(n_epochs=20 if FAST else "auto", random_state=0)
    start = time.perf_counter()
    detector.fit(X_train)
    elapsed = time.perf_counter() - start
    anomaly_score = -detector.score_samples(X_test)  # higher = more abnormal
    flagged = (detector.predict(X_test) == -1).mean()
    auc = roc_auc_score(y_test, anomaly_score)
    ap = average_precision_score(y_test, anomaly_score)
    print(f"{cls.__name__:<18}{auc:>9.3f}{ap:>8.3f}{flagged:>9.0%}{elapsed:>9.1f}")
    # Test scores by class, with the threshold that ``predict`` uses.
    plot_score_histogram(anomaly_score, y_test, threshold=-detector.offset_, ax=ax)
    ax.set_title(f"{cls.__name__}: ROC-AUC {auc:.2f}")
fig.tight_layout()
