"""Shared fixtures: fast instances of every detector, small data sets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector

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
