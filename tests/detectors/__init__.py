"""Tests of the detectors: one module per paper, as skanomaly/detectors/."""
