"""The one-class splits: no test image is ever trained on."""

from __future__ import annotations

import numpy as np
import pytest

from skanomaly.datasets import one_class_anomaly_split, one_class_split


@pytest.fixture
def labelled():
    # distinct values in train and test, so a leak shows
    y_train = np.repeat(np.arange(3), 4)
    y_test = np.repeat(np.arange(3), 2)
    X_train = np.arange(12)[:, None] * np.ones((1, 2))
    X_test = 100 + np.arange(6)[:, None] * np.ones((1, 2))
    return X_train, y_train, X_test, y_test


def test_one_class_split(labelled):
    X_train, y_train, X_test, y_test = labelled
    X_fit, X_eval, y_eval = one_class_split(X_train, y_train, X_test, y_test, 1)
    np.testing.assert_array_equal(X_fit[:, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(X_eval, X_test)
    np.testing.assert_array_equal(y_eval, [1, 1, 0, 0, 1, 1])
    assert not np.isin(X_fit, X_eval).any()


def test_one_class_anomaly_split(labelled):
    X_train, y_train, X_test, y_test = labelled
    X_fit, X_eval, y_eval = one_class_anomaly_split(X_train, y_train, X_test, y_test, 2)
    np.testing.assert_array_equal(X_fit[:, 0], np.arange(8))
    np.testing.assert_array_equal(X_eval, X_test)
    np.testing.assert_array_equal(y_eval, [0, 0, 0, 0, 1, 1])
    assert not np.isin(X_fit, X_eval).any()


@pytest.mark.parametrize("split", [one_class_split, one_class_anomaly_split])
def test_split_errors(split, labelled):
    X_train, y_train, X_test, y_test = labelled
    with pytest.raises(ValueError, match="not among the training labels"):
        split(X_train, y_train, X_test, y_test, 7)
    with pytest.raises(ValueError, match="one label per row of X_test"):
        split(X_train, y_train, X_test, y_test[:-1], 0)
