"""The detectors: each module holds what makes one paper's method."""

from .ganomaly import GANomalyDetector

__all__ = ["GANomalyDetector"]
