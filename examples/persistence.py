"""
Save, load and export a detector
================================

Three ways to keep a fitted detector:

- ``joblib.dump`` / ``joblib.load``: exact and quick, for your own models
  (also inside a ``Pipeline`` or ``GridSearchCV``). Network weights are
  pickled on the CPU, so a model trained on a GPU loads on a CPU-only
  machine. joblib files are pickles: load only files you trust.
- :func:`skanomaly.save` / :func:`skanomaly.load`: a weights-only format
  that runs no code when loaded, for models shared with others.
- :func:`skanomaly.export_onnx`: an ONNX graph that scores raw input in
  ``onnxruntime``, without Python or PyTorch on the serving side (GANomaly
  and EGBAD; needs the ``export`` extra).

Run ``python examples/persistence.py [FOLDER]``; ``SKANOMALY_EXAMPLE_FAST=1``
trains for a few epochs only, as in this page.
"""

import os
import sys
import tempfile
from pathlib import Path

import joblib
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import skanomaly
from skanomaly import GANomalyDetector

FAST = os.environ.get("SKANOMALY_EXAMPLE_FAST") == "1"
folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
folder.mkdir(parents=True, exist_ok=True)

X, y = load_digits(return_X_y=True)
images = X.reshape(-1, 1, 8, 8)
detector = GANomalyDetector(n_epochs=10 if FAST else 60, n_filters=32, random_state=0)
detector.fit(images[y == 3])

# %%
# joblib: the restored model scores, thresholds and reconstructs exactly as
# the original.
path = folder / "ganomaly.joblib"
joblib.dump(detector, path)
restored = joblib.load(path)
np.testing.assert_array_equal(restored.score_samples(images), detector.score_samples(images))
np.testing.assert_array_equal(restored.predict(images), detector.predict(images))
np.testing.assert_array_equal(restored.reconstruct(images[:5]), detector.reconstruct(images[:5]))
print(f"saved to {path} ({path.stat().st_size / 1e6:.1f} MB); the loaded copy gives identical")
print(f"scores; it flags {np.mean(restored.predict(images) == -1):.0%} of all digits as not a '3'")

# %%
# The safe format: weights and numbers only, with JSON metadata of your own.
path = folder / "ganomaly.skan"
skanomaly.save(detector, path, metadata={"normal_digit": 3})
restored = skanomaly.load(path)
np.testing.assert_array_equal(restored.score_samples(images), detector.score_samples(images))
print(f"{path.name}: identical scores; metadata {skanomaly.persistence.read_metadata(path)}")

# %%
# ONNX: the graph takes raw images (the scaling learned in ``fit`` is inside
# it) and returns the anomaly score (``-score_samples``) and the anomaly map.
# Its scores match the estimator's up to float32 rounding.
try:
    import onnxruntime
except ImportError:
    onnxruntime = None
    print("onnxruntime is not installed: pip install onnx onnxscript onnxruntime to export")
if onnxruntime is not None:
    path = skanomaly.export_onnx(detector, folder / "ganomaly.onnx")
    session = onnxruntime.InferenceSession(path)
    sample = images[y != 3][:6].astype(np.float32)
    onnx_score, onnx_map = session.run(None, {"X": sample})
    difference = np.max(np.abs(onnx_score + detector.score_samples(sample)))
    print(f"{path.name}: largest score difference from score_samples: {difference:.1e}")

    fig, axes = plt.subplots(3, len(sample), figsize=(1.4 * len(sample), 4.6))
    estimator_map = detector.anomaly_map(sample)
    for j in range(len(sample)):
        rows = [(sample[j, 0], "gray", "input"), (estimator_map[j, 0], "magma", "anomaly_map")]
        rows.append((onnx_map[j, 0], "magma", "ONNX map"))
        for ax, (picture, cmap, label) in zip(axes[:, j], rows, strict=True):
            ax.imshow(picture, cmap=cmap)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label)
        axes[0, j].set_title(f"{onnx_score[j]:.3g}", fontsize=9)
    fig.suptitle("Digits that are not a '3': ONNX score, and maps from both")
    fig.tight_layout()
