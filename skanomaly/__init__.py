"""skanomaly: scikit-learn compatible GAN-based anomaly detectors.

AnoGAN, EGBAD and GANomaly behind the ``OutlierMixin`` / ``BaseEstimator``
API: ``GANomalyDetector().fit(X).predict(X_test)``.
"""

__version__ = "0.1.0"

from .detectors import GANomalyDetector  # noqa: E402
from .persistence import load, save  # noqa: E402

__all__ = ["GANomalyDetector", "__version__", "load", "save"]
