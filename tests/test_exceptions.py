"""The named warnings and errors: each raised where it should be, each a subclass
of what was raised before it had a name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import skanomaly
from skanomaly import GANomalyDetector, exceptions
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


def test_version_mismatch_warns_and_can_be_filtered(tmp_path, monkeypatch):
    path = tmp_path / "model.skan"
    skanomaly.save(fast(GANomalyDetector).fit(ROWS), path)
    monkeypatch.setattr("skanomaly._runtime.library_versions", lambda: {"skanomaly": "0.0.1"})
    with pytest.warns(VersionMismatchWarning, match="skanomaly"):
        skanomaly.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SkanomalyWarning)
        skanomaly.load(path)
