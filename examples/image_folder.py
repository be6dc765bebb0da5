"""
Images in a folder
==================

Builds a small image folder in the layout skanomaly reads --
``train/0.normal/``, ``test/0.normal/``, ``test/1.abnormal/`` -- from
Fashion-MNIST (sneakers are normal, other clothes anomalous) when a local
copy is found, else from scikit-learn's 8x8 digits (zeros are normal), then
trains GANomaly on ``train/``, scores ``test/`` and draws the most
anomalous images with their reconstructions and anomaly maps.

The same job from the shell::

    skanomaly train DATA_DIR --detector ganomaly --output model.skan
    skanomaly score model.skan DATA_DIR --output report/

Run ``python examples/image_folder.py [OUTPUT_DIR]`` (default
``image_folder_example/``); ``SKANOMALY_EXAMPLE_FAST=1`` uses fewer images
and epochs, as in this page.
"""

import os
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from skanomaly import GANomalyDetector
from skanomaly.datasets import (
    get_data_home,
    load_fashion_mnist,
    load_image_folder,
    write_image_folder,
)
from skanomaly.plot import (
    plot_history,
    plot_reconstructions,
    plot_score_histogram,
    reconstruction_grid,
)

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"
n_train, n_test = (64, 20) if FAST else (500, 100)  # test: as many anomalies as normal images
output = Path(sys.argv[1] if len(sys.argv) > 1 else "image_folder_example")
rng = np.random.default_rng(0)

# %%
# Build the folder (a real project starts here with its own images).
data_home = get_data_home()  # $SKANOMALY_DATA, else ~/skanomaly_data
if (data_home / "FashionMNIST" / "raw").is_dir():
    X_train, y_train = load_fashion_mnist(data_home, train=True, download=False)
    X_test, y_test = load_fashion_mnist(data_home, train=False, download=False)
    normal, source = 7, "Fashion-MNIST, sneakers normal"
else:
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)
    X_train, y_train, X_test, y_test = X[::2], y[::2], X[1::2], y[1::2]
    n_train = min(n_train, int(np.sum(y_train == 0)))
    normal, source = 0, "sklearn digits, zeros normal"
train = rng.choice(np.flatnonzero(y_train == normal), n_train, replace=False)
test = np.r_[
    rng.choice(np.flatnonzero(y_test == normal), n_test, replace=False),
    rng.choice(np.flatnonzero(y_test != normal), n_test, replace=False),
]
root = write_image_folder(
    output / "data", X_train[train], X_test[test], (y_test[test] != normal).astype(int)
)
print(f"wrote {root} from {source}: {n_train} training, {2 * n_test} test images")

# %%
# Train on the normal images of ``train/``.
train_set = load_image_folder(root / "train")
detector = GANomalyDetector(
    n_epochs=25 if FAST else 15,
    batch_size=16 if FAST else 64,  # a few images: small batches, more steps
    n_filters=8 if FAST else 32,
    random_state=0,
    verbose=0 if FAST else 1,
)
detector.fit(train_set.images)

# %%
# Score ``test/``; the class folders give the labels (1 = anomaly).
test_set = load_image_folder(root / "test")
anomaly_score = -detector.score_samples(test_set.images)
print(f"ROC-AUC on test/: {roc_auc_score(test_set.target, anomaly_score):.3f}")

# %%
# The most anomalous test images: input, reconstruction and anomaly map
# over the input (a picture file, and a figure with the scores).
top = np.argsort(-anomaly_score)[:8]
reconstruction_grid(detector, test_set.images[top], output / "most_anomalous.png")
titles = [f"{anomaly_score[i]:.3g}\n{'anomaly' if test_set.target[i] else 'normal'}" for i in top]
reconstructions = plot_reconstructions(detector, test_set.images[top], titles=titles)

# %%
# Score distribution by class, with the threshold of ``predict``, and the
# training losses.
scores = plot_score_histogram(anomaly_score, test_set.target, threshold=-detector.offset_)
scores.savefig(output / "scores.png")
losses = plot_history(detector)
losses.savefig(output / "losses.png")
print("most anomalous:", *(Path(test_set.paths[i]).relative_to(root) for i in top[:3]), "...")
print(f"pictures in {output}/")
