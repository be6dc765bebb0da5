"""Scoring streams: memory grows with the batch, not with the number of rows."""

from __future__ import annotations

import tracemalloc

import numpy as np

from .conftest import fast


def test_scoring_streams_in_batches(detector_class, monkeypatch):
    rng = np.random.default_rng(0)
    detector = fast(detector_class, hidden_dims=(8,)).fit(rng.normal(size=(48, 30)))
    X = rng.normal(size=(40_000, 30))  # 9.2 MB
    sizes = []
    original = detector_class._anomaly_score

    def anomaly_score(self, nets, x):
        sizes.append(len(x))
        return original(self, nets, x)

    monkeypatch.setattr(detector_class, "_anomaly_score", anomaly_score)
    tracemalloc.start()
    try:
        scores = detector.score_samples(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Fixed-size chunks, the last one padded: as many as the rows need.
    chunk = detector._score_batch_rows()
    assert set(sizes) == {chunk} and len(sizes) == -(-len(X) // chunk) and chunk < len(X)
    # The scores themselves are 1/30 of the input; no scaled copy of X is made.
    assert peak < 0.15 * X.nbytes, f"numpy peak {peak / 2**20:.1f} MB"
    np.testing.assert_array_equal(scores[:100], detector.score_samples(X[:100]))
