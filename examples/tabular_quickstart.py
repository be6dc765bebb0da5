"""Tabular quickstart: every skanomaly detector on the breast cancer data.

Each detector is trained on benign tumours only and scored on held-out
benign and all malignant ones (the anomalies), like any scikit-learn
outlier detector: ``fit``, ``score_samples``, ``predict``.

Run ``python examples/tabular_quickstart.py``; ``SKANOMALY_EXAMPLE_FAST=1``
trains for two epochs only (a smoke test, not a meaningful result).
"""

import os
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import average_precision_score, roc_auc_score

import skanomaly

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"

X, y = load_breast_cancer(return_X_y=True)
anomaly = y == 0  # malignant
rng = np.random.default_rng(0)
benign = rng.permutation(np.flatnonzero(~anomaly))
train = benign[:250]
test = np.r_[benign[250:], np.flatnonzero(anomaly)]
X_train, X_test, y_test = X[train], X[test], anomaly[test].astype(int)
print(f"train: {len(X_train)} benign rows; test: {len(X_test)} rows, {y_test.sum()} malignant")

detectors = [getattr(skanomaly, name) for name in skanomaly.__all__ if name.endswith("Detector")]
print(f"{'detector':<18}{'ROC-AUC':>9}{'AP':>8}{'flagged':>9}{'fit (s)':>9}")
for cls in detectors:
    detector = cls(n_epochs=2 if FAST else "auto", random_state=0)
    start = time.perf_counter()
    detector.fit(X_train)
    elapsed = time.perf_counter() - start
    anomaly_score = -detector.score_samples(X_test)  # higher = more abnormal
    flagged = (detector.predict(X_test) == -1).mean()
    auc = roc_auc_score(y_test, anomaly_score)
    ap = average_precision_score(y_test, anomaly_score)
    print(f"{cls.__name__:<18}{auc:>9.3f}{ap:>8.3f}{flagged:>9.0%}{elapsed:>9.1f}")
