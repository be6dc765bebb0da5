"""The detectors: each module holds what makes one paper's method."""

from .anogan import AnoGANDetector
from .egbad import EGBADDetector
from .ganomaly import GANomalyDetector

__all__ = ["AnoGANDetector", "EGBADDetector", "GANomalyDetector"]
