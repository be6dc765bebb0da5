"""Shared fixtures: fast instances of every detector, small data sets, fitted models.

This is also the one module of the suite that imports private names of the
package (see "Package internals" below); test modules take them from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector

# ---------------------------------------------------------------------------
# Package internals: every private name the tests import, in one place.
# ---------------------------------------------------------------------------
from skanomaly._runtime import available_device  # noqa: F401 (re-exported to tests)
from skanomaly._training import mixed_precision  # noqa: F401
from skanomaly.persistence._zip import deflate_pays  # noqa: F401

# Every detector class, with settings that make fitting take well under a
# second on tiny data; tests parametrised over this list cover each detector.
DETECTOR_CLASSES = [AnoGANDetector, EGBADDetector, GANomalyDetector]

# SKANOMALY_TEST_DEVICE=cuda runs the suite on a GPU; CI has none.
TEST_DEVICE = os.environ.get("SKANOMALY_TEST_DEVICE", "cpu")
FAST_PARAMS = {"n_epochs": 2, "batch_size": 16, "random_state": 0, "device": TEST_DEVICE}
# AnoGAN scores by a search of ``latent_steps`` steps per row; keep it short.
FAST_CLASS_PARAMS = {AnoGANDetector: {"latent_steps": 20}}

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def fast(cls, **params):
    """A quickly trained instance of ``cls`` (tests only)."""
    return cls(**{**FAST_PARAMS, **FAST_CLASS_PARAMS.get(cls, {}), **params})


@pytest.fixture(params=DETECTOR_CLASSES, ids=lambda cls: cls.__name__)
def detector_class(request):
    return request.param


@pytest.fixture(scope="session")
def blobs():
    """200 normal 4-D rows around the origin, and 20 far outliers."""
    rng = np.random.default_rng(0)
    inliers = rng.normal(size=(200, 4))
    outliers = rng.uniform(6, 8, size=(20, 4)) * rng.choice([-1, 1], size=(20, 4))
    return inliers, outliers


@pytest.fixture(scope="session")
def breast_cancer_split():
    """Benign rows to train on; held-out benign plus all malignant rows to test."""
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    benign = rng.permutation(np.flatnonzero(y == 1))
    train, test_benign = benign[:250], benign[250:]
    test = np.r_[test_benign, np.flatnonzero(y == 0)]
    return X[train], X[test], (y[test] == 0).astype(int)


@pytest.fixture(scope="session")
def digits_images():
    """sklearn digits as (n, 1, 8, 8) images with their labels."""
    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 1, 8, 8), y


class _FittedOnFirstUse(dict):
    """Detector class -> fitted detector, each fitted the first time it is asked for.

    ``check_unchanged`` (run when the session ends) fails if a test changed
    one of them: its parameters, threshold or scores on ``probe``.
    """

    def __init__(self, fit, probe):
        super().__init__()
        self._fit, self._probe, self._fingerprints = fit, probe, {}

    def __missing__(self, cls):
        self[cls] = detector = self._fit(cls)
        self._fingerprints[cls] = self._fingerprint(detector)
        return detector

    def _fingerprint(self, detector):
        return detector.get_params(), detector.offset_, detector.score_samples(self._probe)

    def check_unchanged(self):
        for cls, (params, offset, scores) in self._fingerprints.items():
            now = self._fingerprint(self[cls])
            message = f"a test changed the shared fitted {cls.__name__}; change a copy"
            assert now[0] == params and now[1] == offset, message
            np.testing.assert_array_equal(now[2], scores, err_msg=message)


@pytest.fixture(scope="session")
def fitted_tabular(blobs):
    """``fitted_tabular[cls]``: a fast ``cls`` fitted on the 200 inliers of ``blobs``.

    Shared by the whole session: tests read it, and change only a
    ``copy.deepcopy`` (or fit a ``clone``) of it.
    """
    inliers, outliers = blobs
    fitted = _FittedOnFirstUse(
        lambda cls: fast(cls, latent_dim=3, hidden_dims=(16, 8)).fit(inliers),
        probe=np.r_[inliers[:3], outliers[:2]],
    )
    yield fitted
    fitted.check_unchanged()


@pytest.fixture(scope="session")
def fitted_image(digits_images):
    """``fitted_image[cls]``: a fast ``cls`` fitted on the first 64 digits (1x8x8 images).

    Read-only like ``fitted_tabular``; ``digits_images[0][64:]`` are unseen images.
    """
    X, _ = digits_images
    fitted = _FittedOnFirstUse(lambda cls: fast(cls, n_filters=4).fit(X[:64]), probe=X[64:69])
    yield fitted
    fitted.check_unchanged()


def networks(detector):
    """The detector's torch modules by attribute name (a private method)."""
    return detector._networks()


def rewrite_model_file(
    path, new_path, *, manifest=None, fitted=None, params=None, metadata=None, members=None,
    fix_digests=True,
):  # fmt: skip
    """Copy the model file ``path`` to ``new_path`` with parts replaced; return ``new_path``.

    ``manifest`` replaces top-level manifest entries; ``fitted``, ``params``
    and ``metadata`` update those entries; ``members`` replaces zip members.
    With ``fix_digests`` the SHA-256 digests are made to match the members.
    """
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(contents.pop("manifest.json"))
    for key, changes in (("fitted", fitted), ("params", params), ("metadata", metadata)):
        data[key].update(changes or {})
    data.update(manifest or {})
    contents.update(members or {})
    if fix_digests:
        data["sha256"] = {k: hashlib.sha256(v).hexdigest() for k, v in contents.items()}
    with zipfile.ZipFile(new_path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(data))
        for name, content in contents.items():
            archive.writestr(name, content)
    return new_path


def write_png(path, array, *, width=None, height=None, data=None):
    """Write a PNG by hand: 16-bit grey (H, W) or 16-bit RGB (H, W, 3).

    ``width`` / ``height`` override the header (for a crafted huge image).
    """
    array = np.asarray(array, dtype=">u2")
    colour = 2 if array.ndim == 3 else 0
    h, w = array.shape[:2]
    rows = b"".join(b"\x00" + array[i].tobytes() for i in range(h))

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width or w, height or h, 16, colour, 0, 0, 0)
    body = zlib.compress(rows) if data is None else data
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def shared_dataset(*parts: str) -> Path:
    """Path under ../shared/datasets, or skip the test where it is absent."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (../shared exists only on the developers' machines)")
    return path


# ``skanomaly`` command lines that train a model in about a second.
TINY_CLI = ["--epochs", "1", "--n-filters", "4", "--batch-size", "8", "--quiet"]


def train_with_cli(data_dir):
    """A GANomaly model file trained by the command on ``data_dir``, beside it."""
    from skanomaly.cli import main

    path = data_dir.parent / "model.skan"
    argv = ["train", str(data_dir), "--detector", "ganomaly", "--output", str(path), *TINY_CLI]
    assert main(argv) == 0
    return path


@pytest.fixture(scope="module")
def model_file(data_dir):
    """A GANomaly model trained by the command on the test module's ``data_dir``."""
    return train_with_cli(data_dir)


def fails_with_one_line(capsys, argv, pattern):
    """Run the command: exit status 1, one error line matching ``pattern``; return stdout."""
    from skanomaly.cli import main

    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("skanomaly: error: ") and "Traceback" not in err, err
    assert re.search(pattern, err), err
    return out


@pytest.fixture
def nan_scoring(detector_class, monkeypatch):
    """``detector_class``, its anomaly scores all NaN (a model that cannot score)."""

    def nan_scores(self, nets, x):
        return torch.full((len(x),), float("nan"))

    monkeypatch.setattr(detector_class, "_anomaly_score", nan_scores)
    return detector_class
