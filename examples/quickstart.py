"""
Quickstart: tables and images
=============================

GANomaly on tabular data and on images, in a few lines each:

1. Breast cancer (sklearn): train on benign tumours only, then rank held-out
   benign and all malignant tumours; malignant ones should score as abnormal.
2. Digits (sklearn, 8x8 images): train on images of one digit; the other
   digits should score as abnormal.

Run ``python examples/quickstart.py`` (default settings, about a minute on
two CPU cores); ``SKANOMALY_EXAMPLE_FAST=1`` trains for 20 epochs, as in
this page.
"""

import os
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skanomaly import GANomalyDetector
from skanomaly.plot import plot_reconstructions

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"
params = {"n_epochs": 20} if FAST else {}

# %%
# Tabular data
# ------------
X, y = load_breast_cancer(return_X_y=True)  # y == 0: malignant
X_benign_train, X_benign_test = train_test_split(X[y == 1], test_size=0.3, random_state=0)
X_test = np.vstack([X_benign_test, X[y == 0]])
is_malignant = np.r_[np.zeros(len(X_benign_test)), np.ones(np.sum(y == 0))]

start = time.perf_counter()
detector = GANomalyDetector(random_state=0, **params).fit(X_benign_train)
anomaly_score = -detector.score_samples(X_test)  # score_samples: higher = more normal
print(
    f"breast cancer: ROC-AUC {roc_auc_score(is_malignant, anomaly_score):.3f} "
    f"({time.perf_counter() - start:.1f} s); "
    f"flagged {np.mean(detector.predict(X_test[is_malignant == 1]) == -1):.0%} of malignant, "
    f"{np.mean(detector.predict(X_benign_test) == -1):.0%} of benign"
)

# %%
# Images
# ------
images, digit = load_digits(return_X_y=True)
images = images.reshape(-1, 1, 8, 8)  # (n, C, H, W): recognised as images
train, test = train_test_split(np.arange(len(images)), test_size=0.5, random_state=0)

start = time.perf_counter()
normal_digit = 0
detector = GANomalyDetector(random_state=0, **params).fit(
    images[train][digit[train] == normal_digit]
)
auc = roc_auc_score(digit[test] != normal_digit, -detector.score_samples(images[test]))
print(
    f"digits, {normal_digit} normal: ROC-AUC {auc:.3f} ({time.perf_counter() - start:.1f} s); "
    f"anomaly map shape {detector.anomaly_map(images[test][:5]).shape}"
)

# %%
# The three most anomalous test digits: input, reconstruction, anomaly map.
anomaly_score = -detector.score_samples(images[test])
top = np.argsort(-anomaly_score)[:3]
figure = plot_reconstructions(detector, images[test][top])
