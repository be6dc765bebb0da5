"""The two one-class protocols of image anomaly detection.

Neither lets a test image into the training set.
"""

from __future__ import annotations

import numpy as np


def one_class_split(X_train, y_train, X_test, y_test, normal_class):
    """One class normal, all others anomalous (the one-class image protocol).

    Train on the training images of ``normal_class`` only; test on the whole
    test split, labelled ``0`` for ``normal_class`` and ``1`` otherwise. The
    training and test sets come from different splits, so no test image is
    ever trained on.

    Parameters
    ----------
    X_train, y_train : array-like
        Training split with class labels.
    X_test, y_test : array-like
        Test split with class labels.
    normal_class : int or str
        The class treated as normal.

    Returns
    -------
    X_fit : ndarray
        The training rows of ``normal_class``.
    X_eval : ndarray
        All test rows.
    y_eval : ndarray of int64
        ``1`` anomaly, ``0`` normal, for the rows of ``X_eval``.

    Raises
    ------
    ValueError
        When a ``y`` is not 1-D with one label per row of its ``X``, or
        when the class is not among ``y_train``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import one_class_split
    >>> X_fit, X_eval, y_eval = one_class_split(
    ...     np.arange(6), np.array([0, 1, 2, 0, 1, 2]), np.arange(3), np.array([0, 1, 2]), 1)
    >>> X_fit.tolist(), y_eval.tolist()
    ([1, 4], [1, 0, 1])
    """
    X_train, y_train, X_test, y_test = _checked(X_train, y_train, X_test, y_test, normal_class)
    return X_train[y_train == normal_class], X_test, (y_test != normal_class).astype(np.int64)


def one_class_anomaly_split(X_train, y_train, X_test, y_test, anomaly_class):
    """One class anomalous, all others normal (the GANomaly paper's protocol).

    Train on the training images of every class but ``anomaly_class``; test
    on the whole test split, labelled ``1`` for ``anomaly_class``. Unlike
    the GANomaly reference code, the training images of ``anomaly_class``
    are not moved into the test set: it stays the test split, unchanged.

    Parameters
    ----------
    X_train, y_train, X_test, y_test : array-like
        The training and test splits with class labels, as for
        :func:`one_class_split`.
    anomaly_class : int or str
        The class treated as anomalous.

    Returns
    -------
    X_fit : ndarray
        The training rows of all other classes.
    X_eval, y_eval : ndarray
        All test rows, and their labels (int64): ``1`` anomaly, ``0`` normal.

    Raises
    ------
    ValueError
        As :func:`one_class_split`.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import one_class_anomaly_split
    >>> labels = np.array([0, 1, 2, 0, 1, 2])
    >>> X_fit, X_eval, y_eval = one_class_anomaly_split(
    ...     np.arange(6), labels, np.arange(3), labels[:3], anomaly_class=1)
    >>> X_fit.tolist()
    [0, 2, 3, 5]
    >>> y_eval.tolist()
    [0, 1, 0]
    """
    X_train, y_train, X_test, y_test = _checked(X_train, y_train, X_test, y_test, anomaly_class)
    return X_train[y_train != anomaly_class], X_test, (y_test == anomaly_class).astype(np.int64)


def _checked(X_train, y_train, X_test, y_test, label):
    """The four arguments as arrays: one label per row, and ``label`` among ``y_train``."""
    arrays = [np.asarray(a) for a in (X_train, y_train, X_test, y_test)]
    for X, y, name in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if y.ndim != 1 or len(X) != len(y):
            raise ValueError(
                f"y_{name} must be 1-D with one label per row of X_{name}: "
                f"got {len(X)} rows and labels of shape {y.shape}"
            )
    if not np.any(arrays[1] == label):
        raise ValueError(
            f"class {label!r} is not among the training labels {np.unique(arrays[1]).tolist()}"
        )
    return arrays
