"""
Pipeline and grid search
========================

A detector in a :class:`~sklearn.pipeline.Pipeline`, tuned with
:class:`~sklearn.model_selection.GridSearchCV` on a validation split.

The data follow PyOD's tabular protocol: a 60/40 stratified split of a
contaminated set (benign tumours plus some malignant ones as anomalies);
training folds include their anomalies, as they would in practice. The
grid search scores candidates by ROC-AUC on its own cross-validation folds
of the training part; the test part is looked at once, at the end.

Run ``python examples/pipeline_gridsearch.py``; ``SKANOMALY_EXAMPLE_FAST=1``
searches a small grid with ten epochs per fit, as in this page.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from skanomaly import GANomalyDetector

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"

X, y = load_breast_cancer(return_X_y=True)
rng = np.random.default_rng(0)
keep = np.r_[np.flatnonzero(y == 1), rng.choice(np.flatnonzero(y == 0), 40, replace=False)]
X, inlier = X[keep], y[keep]  # 357 benign (1 = inlier), 40 malignant (0)
X_train, X_test, inlier_train, inlier_test = train_test_split(
    X, inlier, test_size=0.4, stratify=inlier, random_state=0
)

# %%
# A scaler in front of the detector, and a small grid over its parameters.
pipeline = Pipeline(
    [
        ("scale", QuantileTransformer(n_quantiles=100, output_distribution="normal")),
        ("detector", GANomalyDetector(n_epochs=10 if FAST else 100, random_state=0)),
    ]
)
grid = (
    {"detector__latent_dim": [4, 8]}
    if FAST
    else {
        "detector__latent_dim": [4, 8, 16],
        "detector__con_weight": [10.0, 50.0],
    }
)
# decision_function is higher for inliers, so inliers are the positive class.
scorer = make_scorer(roc_auc_score, response_method="decision_function")
search = GridSearchCV(
    pipeline, grid, scoring=scorer, cv=StratifiedKFold(2 if FAST else 3), n_jobs=1
)
search.fit(X_train, inlier_train)  # the detector ignores y; the scorer uses it

# %%
# The candidates, the best one, and its ROC-AUC on the untouched test part.

print("validation ROC-AUC per candidate:")
results = search.cv_results_
for params, score in zip(results["params"], results["mean_test_score"], strict=True):
    print(f"  {params}: {score:.3f}")
print(f"best: {search.best_params_}")
test_auc = roc_auc_score(inlier_test, search.decision_function(X_test))
print(f"test ROC-AUC of the refitted best pipeline: {test_auc:.3f}")

# %%
# Validation ROC-AUC of each candidate (mean and spread over the folds).
labels = [", ".join(f"{k.split('__')[1]}={v}" for k, v in p.items()) for p in results["params"]]
fig, ax = plt.subplots(figsize=(6, 0.5 + 0.4 * len(labels)))
ax.barh(labels, results["mean_test_score"], xerr=results["std_test_score"], color="tab:blue")
ax.set_xlabel("validation ROC-AUC")
ax.set_xlim(0.5, 1)
ax.invert_yaxis()
fig.tight_layout()
