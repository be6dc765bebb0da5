"""
Defect localisation with ground-truth masks
===========================================

Pixel ROC-AUC and AUPRO.
Builds a small data set in the MVTec AD layout -- ``train/good/``,
``test/good/``, ``test/<defect>/`` and ``ground_truth/<defect>/*_mask.png``
-- from scikit-learn's 8x8 zeros (from Fashion-MNIST sneakers in a full run
when a local copy is found), with synthetic scratches, blobs and
cut-and-paste patches as the defects. Then trains GANomaly on ``train/``,
scores ``test/``, measures how well its anomaly maps find the defects
against the masks, beside the trivial map ``|x - mean training image|``,
and draws the heat maps with the defects outlined.

GANomaly trains for its default budget (``n_epochs="auto"``: about 600
optimiser steps), narrower and in smaller batches than its defaults, as
suits 8x8 images (``n_filters=16``, ``batch_size=16``), and scores images
by their reconstruction error
(``anomaly_score="reconstruction"``): the error its anomaly maps show
pixel by pixel, which is what finds local defects; the paper's latent
score ranks these small defects less reliably.

The same job from the shell (add ``--n-filters 16 --batch-size 16`` for
this page's settings)::

    skanomaly train DATA_DIR --detector ganomaly --anomaly-score reconstruction --output model.skan
    skanomaly score model.skan DATA_DIR --output report/ --maps

Run ``python examples/defect_masks.py [OUTPUT_DIR]`` (default
``defect_masks_example/``); ``SKANOMALY_EXAMPLE_FAST=1`` uses 48 training
images of the digits (a few seconds of training), as this page does.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from torchvision.utils import save_image

from skanomaly import GANomalyDetector
from skanomaly.datasets import (
    get_data_home,
    load_fashion_mnist,
    load_image_folder,
    make_synthetic_defects,
    write_mvtec_folder,
)
from skanomaly.metrics import aupro, pixel_roc_auc
from skanomaly.plot import anomaly_heatmaps, heatmap_pictures, reconstruction_grid

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"
output = Path(sys.argv[1] if len(sys.argv) > 1 else "defect_masks_example")

# 1. Normal images of one class, some of them with synthetic defects: as
# many test images with defects as without.
data_home = get_data_home()  # $SKANOMALY_DATA, else ~/skanomaly_data
if not FAST and (data_home / "FashionMNIST" / "raw").is_dir():
    X, y = load_fashion_mnist(data_home, train=True, download=False)
    normal, source = X[y == 7], "Fashion-MNIST sneakers"
    n_train, n_test = 300, 50
else:  # 178 zeros: 30 + 30 for the test, the rest (48 in a fast run) for training
    X, y = load_digits(return_X_y=True)
    normal, source = X.reshape(-1, 8, 8)[y == 0], "sklearn 8x8 zeros"
    n_test = 30
    n_train = min(48 if FAST else 300, len(normal) - 2 * n_test)
normal = normal[np.random.default_rng(0).permutation(len(normal))[: n_train + 2 * n_test]]
defects = make_synthetic_defects(normal[n_train + n_test :], random_state=0)
X_test = np.r_[normal[n_train : n_train + n_test], defects.images]
types = np.r_[["good"] * n_test, defects.kinds]
masks = np.r_[np.zeros((n_test, *normal.shape[1:]), dtype=bool), defects.masks]
root = write_mvtec_folder(output / "data", normal[:n_train], X_test, types, masks)
print(f"wrote {root} from {source}: {n_train} training images, {n_test} good test images")
print(
    f"and {n_test} with defects: "
    + ", ".join(f"{(types == k).sum()} {k}" for k in np.unique(defects.kinds))
)

# 2. Train on train/good, score test/ with its masks.
train = load_image_folder(root / "train")
detector = GANomalyDetector(
    anomaly_score="reconstruction",
    n_filters=16,
    batch_size=16,
    random_state=0,
    verbose=0 if FAST else 1,
)
detector.fit(train.images)
test = load_image_folder(root / "test", return_masks=True)  # masks aligned with images
scores = -detector.score_samples(test.images)
maps = detector.anomaly_map(test.images)  # |x - reconstruction|, (n, 1, H, W)
baseline = np.abs(test.images - train.images.mean(axis=0))

# 3. Image- and pixel-level metrics.
print(f"{'':<22}{'image ROC-AUC':>14}{'pixel ROC-AUC':>14}{'AUPRO':>8}")
for name, image_scores, pixel_maps in [
    ("GANomaly", scores, maps),
    ("|x - mean training|", baseline.mean(axis=(1, 2, 3)), baseline),
]:
    print(
        f"{name:<22}{roc_auc_score(test.target, image_scores):>14.3f}"
        f"{pixel_roc_auc(test.masks, pixel_maps):>14.3f}{aupro(test.masks, pixel_maps):>8.3f}"
    )

# 4. Pictures: the most anomalous images, and the heat maps of the defective
# ones with their defects outlined (a figure with a colour bar, and one
# picture file per image).
top = np.argsort(-scores)[:10]
reconstruction_grid(
    detector, test.images[top], output / "most_anomalous.png", masks=test.masks[top]
)
defective = np.flatnonzero(test.target)
shown = defective[:16]
heatmaps = anomaly_heatmaps(
    test.images[shown],
    maps[shown],
    test.masks[shown],
    titles=[f"{Path(test.paths[i]).parent.name} {scores[i]:.2g}" for i in shown],
    label="|x - reconstruction|",
)
heatmaps.suptitle("Defective test images: anomaly map, defect outlined in magenta")
pictures = heatmap_pictures(test.images[defective], maps[defective], test.masks[defective])
(output / "maps").mkdir(exist_ok=True)
for i, picture in zip(defective, pictures, strict=True):
    save_image(torch.from_numpy(picture.astype(np.float32)), output / "maps" / f"{i:03d}.png")
print(f"pictures in {output}/ (defects outlined in magenta)")
