"""
Combining detectors with PyOD
=============================

:class:`skanomaly.pyod.PyODDetector` makes any skanomaly detector a PyOD
``BaseDetector`` (anomaly scores higher = more abnormal, labels 0/1), so
PyOD's evaluation and score-combination tools work on it unchanged, also
next to PyOD's own detectors.

The data follow PyOD's tabular protocol: the breast cancer data with a few
malignant tumours as the anomalies, a 60/40 stratified split, fitted on the
(contaminated) training part. GANomaly, EGBAD and PyOD's isolation forest
are combined by averaging and by taking the maximum of their standardised
scores.

Run ``python examples/pyod_combination.py``; ``SKANOMALY_EXAMPLE_FAST=1``
trains for 20 epochs, as in this page. ``pyod.models.combination`` needs
PyOD's optional dependency ``combo``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from pyod.models.combination import average, maximization
from pyod.models.iforest import IForest
from pyod.utils.data import evaluate_print
from pyod.utils.utility import standardizer
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split

from skanomaly import EGBADDetector, GANomalyDetector
from skanomaly.pyod import PyODDetector

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"
n_epochs = 20 if FAST else "auto"

X, y = load_breast_cancer(return_X_y=True)
rng = np.random.default_rng(0)
keep = np.r_[np.flatnonzero(y == 1), rng.choice(np.flatnonzero(y == 0), 40, replace=False)]
X, outlier = X[keep], (y[keep] == 0).astype(int)  # PyOD's labels: 1 = outlier
X_train, X_test, y_train, y_test = train_test_split(
    X, outlier, test_size=0.4, stratify=outlier, random_state=0
)
contamination = y_train.mean()

# %%
# Fit the members: two skanomaly detectors behind PyOD's interface, and
# PyOD's isolation forest. PyOD's ``evaluate_print`` reports ROC-AUC and
# precision at rank n on the test part.
members = {
    "GANomaly": PyODDetector(
        GANomalyDetector(n_epochs=n_epochs, random_state=0), contamination=contamination
    ),
    "EGBAD": PyODDetector(
        EGBADDetector(n_epochs=n_epochs, random_state=0), contamination=contamination
    ),
    "IForest": IForest(contamination=contamination, random_state=0),
}
for name, member in members.items():
    member.fit(X_train)
    evaluate_print(name, y_test, member.decision_function(X_test))

# %%
# Combine: PyOD's combination functions take standardised scores, one
# column per detector (statistics from the training scores only).
train_scores = np.column_stack([m.decision_scores_ for m in members.values()])
test_scores = np.column_stack([m.decision_function(X_test) for m in members.values()])
_, test_standardised = standardizer(train_scores, test_scores)
combined = {"average": average(test_standardised), "maximum": maximization(test_standardised)}
for name, scores in combined.items():
    evaluate_print(name, y_test, scores)

# %%
# ROC curves of the members and of the combinations on the test part.
fig, ax = plt.subplots(figsize=(5.5, 4.5))
for name, scores in [*zip(members, test_scores.T, strict=True), *combined.items()]:
    false_positive_rate, true_positive_rate, _ = roc_curve(y_test, scores)
    label = f"{name} (AUC {roc_auc_score(y_test, scores):.2f})"
    style = "--" if name in combined else "-"
    ax.plot(false_positive_rate, true_positive_rate, style, label=label)
ax.plot([0, 1], [0, 1], color="grey", linewidth=0.5)
ax.set_xlabel("false positive rate")
ax.set_ylabel("true positive rate")
ax.legend(loc="lower right")
ax.set_title("Breast cancer, 40 malignant tumours as anomalies")
fig.tight_layout()
