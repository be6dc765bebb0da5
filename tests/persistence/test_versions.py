"""The library versions model files and pickles record, and the warning when they differ."""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import joblib
import numpy as np
import pytest

import skanomaly
from skanomaly.exceptions import VersionMismatchWarning

from .conftest import assert_same_model, tampered


@pytest.mark.parametrize("dump, load", [(pickle.dumps, pickle.loads), ("joblib", "joblib")])
def test_pickles_record_versions_and_warn_when_they_differ(dump, load, fitted, monkeypatch):
    detector, X = fitted

    def round_trip(obj):
        if dump == "joblib":
            buffer = io.BytesIO()
            joblib.dump(obj, buffer)
            return lambda: joblib.load(io.BytesIO(buffer.getvalue()))
        data = dump(obj)
        return lambda: load(data)

    with warnings.catch_warnings():
        warnings.simplefilter("error", VersionMismatchWarning)
        assert_same_model(round_trip(detector)(), detector, X)  # same versions: silent
        copy.deepcopy(detector)
    # What an older release writes: the version recorded is the one _version holds.
    monkeypatch.setattr("skanomaly._version.__version__", "0.0.1")
    restore = round_trip(detector)
    monkeypatch.undo()
    with pytest.warns(
        VersionMismatchWarning, match="pickled detector was written with skanomaly '0.0.1'"
    ):
        restored = restore()
    assert "_skanomaly_versions" not in vars(restored)
    assert_same_model(restored, detector, X)


def test_pickles_without_versions_warn(fitted):
    # What earlier releases wrote: the state without the versions.
    detector, X = fitted
    state = detector.__getstate__()
    del state["_skanomaly_versions"]
    restored = object.__new__(type(detector))
    with pytest.warns(
        VersionMismatchWarning, match="pickled detector records no library versions"
    ):
        restored.__setstate__(state)
    assert_same_model(restored, detector, X)


def test_load_warns_on_version_mismatch(saved_file, fitted):
    path = tampered(saved_file, manifest={"versions": {"skanomaly": "0.0.1", "torch": "1.0"}})
    with pytest.warns(VersionMismatchWarning, match="skanomaly '0.0.1'.*torch '1.0'") as record:
        restored = skanomaly.load(path)
    assert record[0].filename == __file__  # the warning names the line that loaded
    detector, X = fitted
    np.testing.assert_array_equal(restored.score_samples(X), detector.score_samples(X))
