"""skanomaly: scikit-learn compatible GAN-based anomaly detectors.

AnoGAN, EGBAD and GANomaly behind the ``OutlierMixin`` / ``BaseEstimator``
API: ``GANomalyDetector().fit(X).predict(X_test)``.
"""

from .detectors import AnoGANDetector, EGBADDetector, GANomalyDetector
from .export import export_onnx
from .persistence import load, save

__version__ = "0.1.0"

__all__ = [
    "AnoGANDetector",
    "EGBADDetector",
    "GANomalyDetector",
    "__version__",
    "export_onnx",
    "load",
    "save",
]
