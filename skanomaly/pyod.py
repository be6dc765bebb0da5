"""PyOD interoperability: any skanomaly detector as a PyOD ``BaseDetector``.

PyOD's conventions differ from scikit-learn's in two ways that matter here:
its ``decision_function`` is an *anomaly* score (higher = more abnormal) and
its labels are 0 (inlier) / 1 (outlier). :class:`PyODDetector` translates,
so PyOD's evaluation (``evaluate_print``, ``precision_n_scores``), score
combination (``pyod.models.combination``), probability and confidence
estimates and persistence (``pyod.utils.persistence``) work unchanged.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from pyod.models.base import BaseDetector
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted

__all__ = ["PyODDetector"]


class PyODDetector(BaseDetector):
    """A skanomaly detector behind PyOD's ``BaseDetector`` interface.

    Parameters
    ----------
    estimator : estimator object
        An unfitted skanomaly detector (or any estimator with ``fit`` and
        ``score_samples``, higher = more normal). It is cloned at ``fit``;
        the original is left untouched.
    contamination : float, default=0.1
        Expected share of outliers in the training data, in (0, 0.5]. Sets
        ``threshold_`` (PyOD's labels) and is passed on to the wrapped
        detector when it has a ``contamination`` parameter, so both
        thresholds agree.

    Attributes
    ----------
    estimator_ : estimator object
        The fitted clone of ``estimator``.
    decision_scores_ : ndarray of shape (n_samples,)
        Anomaly scores of the training data (higher = more abnormal):
        ``-estimator_.score_samples(X)``.
    threshold_ : float
        The ``1 - contamination`` percentile of ``decision_scores_``; samples
        scoring above it are labelled 1.
    labels_ : ndarray of shape (n_samples,)
        Training labels, 0 for inliers and 1 for outliers.
    n_features_in_ : int
        Number of features seen in ``fit`` (pixels, for images).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen in ``fit``; only when ``X`` had string
        column names (a DataFrame).

    See Also
    --------
    pyod.models.base.BaseDetector : the interface implemented here.

    Notes
    -----
    ``fit`` scores the training data once more after training to set
    ``decision_scores_``; for AnoGAN, whose scores need a latent search,
    that is a noticeable part of the fit time.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector
    >>> from skanomaly.pyod import PyODDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> clf = PyODDetector(GANomalyDetector(n_epochs=5, random_state=0)).fit(X)
    >>> clf.predict(np.array([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]]))
    array([0, 1])
    """

    # Store the parameters only (scikit-learn's rule, so that ``clone`` and
    # ``set_params`` work); they are validated at ``fit``.
    def __init__(self, estimator, contamination=0.1):
        self.estimator = estimator
        self.contamination = contamination

    def fit(self, X, y=None):
        """Fit a clone of ``estimator`` on ``X`` and set PyOD's attributes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Training data, in any layout the wrapped detector accepts.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted wrapper.
        """
        if not isinstance(self.contamination, Real) or not 0 < self.contamination <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination!r}")
        if not hasattr(self.estimator, "score_samples"):
            raise TypeError(
                f"estimator must have score_samples (higher = more normal); "
                f"{type(self.estimator).__name__} does not"
            )
        # PyOD's predict_proba sizes its output from the number of classes.
        self._set_n_classes(None)
        estimator = clone(self.estimator)
        if "contamination" in estimator.get_params():
            estimator.set_params(contamination=self.contamination)
        estimator.fit(X)
        # skanomaly detectors keep their training rows' scores (out of bag:
        # by the ensemble members that did not train on each row), which
        # predict's threshold comes from; other estimators score X again.
        training_scores = getattr(estimator, "decision_scores_", None)
        self.estimator_ = estimator
        # scikit-learn's input-description attributes, from the fitted estimator.
        self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        if training_scores is None:
            training_scores = self._anomaly_scores(X)
        self.decision_scores_ = np.asarray(training_scores, dtype=np.float64)
        self._process_decision_scores()
        return self

    def decision_function(self, X):
        """Anomaly score of each sample: higher means more abnormal.

        Parameters
        ----------
        X : array-like
            Samples, in the layout used for ``fit``; PyOD's ``predict``,
            ``predict_proba`` and ``predict_confidence`` score through here.

        Returns
        -------
        anomaly_scores : ndarray of shape (n_samples,), dtype float64
            ``-estimator_.score_samples(X)``.
        """
        check_is_fitted(self, "estimator_")
        return self._anomaly_scores(X)

    def _anomaly_scores(self, X) -> np.ndarray:
        return -np.asarray(self.estimator_.score_samples(X), dtype=np.float64)
