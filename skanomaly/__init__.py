"""skanomaly: scikit-learn compatible GAN-based anomaly detectors.

AnoGAN, EGBAD and GANomaly behind the ``OutlierMixin`` / ``BaseEstimator``
API: ``GANomalyDetector().fit(X).predict(X_test)``.

The names below are imported on first use (PEP 562), so that ``import
skanomaly`` and the ``skanomaly`` command's ``--help`` do not wait for
PyTorch; ``from skanomaly import GANomalyDetector`` works as usual.
"""

import importlib

from ._registry import DETECTOR_NAMES
from ._version import __version__

# Public name -> the module that defines it.
_LAZY = {
    **dict.fromkeys(DETECTOR_NAMES.values(), ".detectors"),
    "export_onnx": ".export",
    "load": ".persistence",
    "save": ".persistence",
}

__all__ = [
    *sorted(DETECTOR_NAMES.values()),
    "__version__",
    "export_onnx",
    "load",
    "save",
]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
