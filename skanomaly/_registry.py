"""The one list of the detectors this version ships.

The command line (``--detector``), model files (the allow-list of classes
``skanomaly.load`` restores) and the package's lazy exports all read it.
Importing this module imports no detector (and no PyTorch): a look-up does.
"""

from __future__ import annotations

import importlib

__all__ = ["DETECTOR_NAMES", "detector_class", "detector_classes"]

#: Short (command-line) name -> class name, in ``skanomaly.detectors``.
DETECTOR_NAMES = {
    "anogan": "AnoGANDetector",
    "egbad": "EGBADDetector",
    "ganomaly": "GANomalyDetector",
}


def detector_class(name: str) -> type:
    """The detector class of a short name (``"ganomaly"``) or a class name.

    Raises
    ------
    KeyError
        If ``name`` is neither.
    """
    class_name = DETECTOR_NAMES.get(name, name)
    if class_name not in DETECTOR_NAMES.values():
        raise KeyError(name)
    detectors = importlib.import_module("skanomaly.detectors")
    return getattr(detectors, class_name)


def detector_classes() -> dict[str, type]:
    """``{class name: class}`` of every detector this version ships."""
    return {name: detector_class(name) for name in DETECTOR_NAMES.values()}
