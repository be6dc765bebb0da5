"""Devices and the arithmetic of training.

Training steps are float32; the benchmarks' ``mixed_precision``
instrument really trains in bfloat16, and nothing else does; on a GPU,
scores stay float64 and independent of their batch. The
tests marked "needs a CUDA GPU" run where one is (CI has none; run the
suite there with ``SKANOMALY_TEST_DEVICE=cuda``).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from .conftest import fast, mixed_precision

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class _DtypeProbe:
    """The output dtypes of the layers with a weight matrix, in a fit's training steps."""

    def __init__(self, monkeypatch, detector):
        self.dtypes = set()
        build = type(detector)._build_networks

        def build_and_hook(model):
            build(model)
            for network in model._networks().values():
                for module in network.modules():
                    weight = getattr(module, "weight", None)
                    if isinstance(weight, torch.Tensor) and weight.ndim >= 2:
                        module.register_forward_hook(self._record)

        monkeypatch.setattr(detector, "_build_networks", build_and_hook.__get__(detector))

    def _record(self, module, inputs, output):
        if module.training and torch.is_grad_enabled():
            self.dtypes.add(output.dtype)


@pytest.mark.parametrize("inside", [None, "float32"], ids=["plain", "mixed_precision-float32"])
def test_training_steps_are_float32(detector_class, blobs, monkeypatch, inside):
    detector = fast(detector_class)
    probe = _DtypeProbe(monkeypatch, detector)
    with mixed_precision(inside) if inside else contextlib.nullcontext():
        detector.fit(blobs[0])
    assert probe.dtypes == {torch.float32}


def test_mixed_precision_trains_in_bfloat16_and_scores_in_float64(
    detector_class, blobs, monkeypatch
):
    inliers, outliers = blobs
    detector = fast(detector_class)
    probe = _DtypeProbe(monkeypatch, detector)
    with mixed_precision(torch.bfloat16):
        detector.fit(inliers)
    assert probe.dtypes == {torch.bfloat16}
    scores = detector.score_samples(outliers)
    assert scores.dtype == np.float64
    plain = fast(detector_class).fit(inliers)
    assert not np.array_equal(scores, plain.score_samples(outliers))
    # The setting ends with its block: the next fit is the plain one again.
    again = fast(detector_class).fit(inliers)
    np.testing.assert_array_equal(again.score_samples(outliers), plain.score_samples(outliers))


@needs_cuda
def test_gpu_image_fit_scores_in_float64_independently_of_the_batch(detector_class, digits_images):
    X, y = digits_images
    detector = fast(detector_class, device="cuda", n_filters=8, n_epochs=5).fit(X[y == 0])
    test = X[y != 0][:40]
    scores = detector.score_samples(test)
    assert scores.dtype == np.float64 and np.isfinite(scores).all()
    alone = np.array([detector.score_samples(row[None])[0] for row in test[:4]])
    np.testing.assert_allclose(alone, scores[:4], rtol=1e-9)
