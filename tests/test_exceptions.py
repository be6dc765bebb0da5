"""The named warnings and errors: each raised where it should be, each a subclass
of what was raised before it had a name."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

import skanomaly
from skanomaly import EGBADDetector, GANomalyDetector, exceptions
from skanomaly.exceptions import (
    DeviceWarning,
    InvertedScoreTermWarning,
    ModelFileError,
    ModelTooLargeError,
    SkanomalyError,
    SkanomalyWarning,
    TrainingDivergedError,
    VersionMismatchWarning,
)

from .conftest import fast

ROWS = np.random.default_rng(0).normal(size=(48, 3))


@pytest.mark.parametrize(
    "cls, bases",
    [
        (TrainingDivergedError, (SkanomalyError, FloatingPointError)),
        (ModelTooLargeError, (SkanomalyError, ValueError)),
        (ModelFileError, (SkanomalyError, ValueError)),
        (VersionMismatchWarning, (SkanomalyWarning, UserWarning)),
        (DeviceWarning, (SkanomalyWarning, UserWarning)),
        (InvertedScoreTermWarning, (SkanomalyWarning, UserWarning)),
    ],
)
def test_named_exceptions_subclass_what_was_raised_before(cls, bases):
    assert issubclass(cls, bases)
    assert cls.__doc__


def test_all_lists_every_exception_class():
    named = {
        name
        for name, value in vars(exceptions).items()
        if isinstance(value, type) and issubclass(value, (Exception, Warning))
    }
    assert set(exceptions.__all__) == named


def test_bad_model_files_raise_model_file_error(tmp_path):
    path = tmp_path / "model.skan"
    path.write_bytes(pickle.dumps(fast(GANomalyDetector)))
    with pytest.raises(ModelFileError, match="looks like a pickle"):
        skanomaly.load(path)
    with pytest.raises(ModelFileError, match="not a skanomaly model file"):
        skanomaly.persistence.read_metadata(path)
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ModelFileError, match="skanomaly model file"):
        skanomaly.load(path)


def test_missing_cuda_device_warns_device_warning(monkeypatch):
    detector = fast(GANomalyDetector, device="cpu").fit(ROWS)
    detector.device_ = "cuda:0"  # as if trained on a GPU this machine lacks
    data = pickle.dumps(detector)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on 'cpu'"):
        assert pickle.loads(data).device_ == "cpu"


def test_inverted_discrimination_term_warns(monkeypatch):
    original = EGBADDetector._score_terms

    def inverted(self, nets, x):
        residual, discrimination = original(self, nets, x)
        return residual, -discrimination

    monkeypatch.setattr(EGBADDetector, "_score_terms", inverted)
    with pytest.warns(InvertedScoreTermWarning, match="disc_weight_ = 0"):
        fast(EGBADDetector, disc_weight=0.5).fit(ROWS)


def test_version_mismatch_warns_and_can_be_filtered(tmp_path, monkeypatch):
    from skanomaly import persistence

    path = tmp_path / "model.skan"
    skanomaly.save(fast(GANomalyDetector).fit(ROWS), path)
    monkeypatch.setattr(persistence, "_versions", lambda: {"skanomaly": "0.0.1"})
    with pytest.warns(VersionMismatchWarning, match="skanomaly"):
        skanomaly.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SkanomalyWarning)
        skanomaly.load(path)
