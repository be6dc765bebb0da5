"""Training: statistics of the final weights, early stopping, score choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from skanomaly import EGBADDetector, GANomalyDetector

from .conftest import fast


def _batch_norm_inputs(detector, X):
    """Mean and variance of each batch-norm layer's input, in eval mode, over X."""
    layers = [
        m
        for net in detector._networks().values()
        for m in net.modules()
        if isinstance(m, _BatchNorm)
    ]
    seen = {layer: [] for layer in layers}
    hooks = [
        layer.register_forward_pre_hook(lambda layer, inputs: seen[layer].append(inputs[0]))
        for layer in layers
    ]
    try:
        with torch.no_grad():
            data = detector._to_tensor(detector._validate_input(X, reset=False)[0])
            detector._calibration_pass(detector._network_namespace(), data)
    finally:
        for hook in hooks:
            hook.remove()
    moments = {}
    for layer, inputs in seen.items():
        x = torch.cat(inputs).double()
        dims = [d for d in range(x.dim()) if d != 1]
        moments[layer] = (x.mean(dims), x.var(dims, unbiased=False))
    return moments


@pytest.mark.parametrize("images", [False, True], ids=["tabular", "images"])
def test_batch_norm_statistics_are_those_of_the_final_weights(
    detector_class, blobs, digits_images, images
):
    # Running averages collected while the weights move (momentum 0.1) are
    # far from the statistics of the final weights after a few large steps.
    X = digits_images[0][:150] if images else blobs[0]
    detector = fast(detector_class, n_filters=4, learning_rate=1e-2).fit(X)
    moments = _batch_norm_inputs(detector, X)
    assert moments, "the backbone has batch-norm layers"
    for layer, (mean, var) in moments.items():
        # In eval mode each layer normalises with exactly what it sees.
        np.testing.assert_allclose(layer.running_mean.double(), mean, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(layer.running_var.double(), var, rtol=1e-3, atol=1e-4)


def test_early_stopping_keeps_the_best_epoch(detector_class, blobs):
    X = blobs[0]
    detector = fast(detector_class, n_epochs=40, early_stopping=True, n_iter_no_change=3, tol=1e9)
    training_scores = detector._fit_and_score(X)
    # tol this large: no epoch after the first counts as an improvement, so it
    # stops after 1 + 3 (scikit-learn's rule).
    assert detector.n_epochs_trained_ == 4 == len(detector.history_["val_loss"])
    assert detector.best_epoch_ == 1 + int(np.argmin(detector.history_["val_loss"]))
    assert all(len(v) == 4 for v in detector.history_.values())
    # The threshold and the training scores cover every row, held out or not.
    np.testing.assert_array_equal(training_scores, -detector.score_samples(X))


def test_early_stopping_runs_to_the_end_while_improving(blobs):
    detector = fast(GANomalyDetector, n_epochs=6, early_stopping=True, tol=0.0).fit(blobs[0])
    assert detector.n_epochs_trained_ == 6 == len(detector.history_["val_loss"])
    assert np.isfinite(detector.history_["val_loss"]).all()


def test_early_stopping_restores_the_best_weights(blobs):
    X = blobs[0]
    detector = fast(
        GANomalyDetector,
        n_epochs=12,
        early_stopping=True,
        n_iter_no_change=12,
        tol=0.0,
        learning_rate=5e-3,
    ).fit(X)
    history = detector.history_["val_loss"]
    # The validation rows are the same split again (same random_state).
    rng = np.random.RandomState(0)
    rng.randint(np.iinfo(np.int32).max)
    held_out = rng.permutation(len(X))[: int(round(0.1 * len(X)))]
    residual = np.abs(X[held_out] - detector.reconstruct(X[held_out])) / detector.scale_
    # Kept weights score the held-out rows as the best epoch did, up to the
    # batch-norm statistics, which are recomputed on all training rows at the end.
    assert residual.mean() == pytest.approx(min(history), rel=0.1)
    assert detector.best_epoch_ == 1 + int(np.argmin(history))


def test_early_stopping_needs_rows_on_both_sides(detector_class):
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="validation_fraction=0.05 leaves too few rows"):
        fast(detector_class, early_stopping=True, validation_fraction=0.05).fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"tol": -1.0}, "tol"),
        ({"early_stopping": "yes"}, "early_stopping"),
    ],
)
def test_invalid_early_stopping_parameters(detector_class, params, match, blobs):
    with pytest.raises(ValueError, match=match):
        fast(detector_class, **params).fit(blobs[0])


def test_ganomaly_score_choice(blobs):
    inliers, outliers = blobs
    X = np.vstack([inliers[:20], outliers[:5]])
    scores = {}
    for choice in ("latent", "reconstruction", "combined"):
        detector = fast(GANomalyDetector, anomaly_score=choice).fit(inliers)
        scores[choice] = -detector.score_samples(X)
    residual = (np.abs(X - detector.reconstruct(X)) / detector.scale_).mean(axis=1)
    np.testing.assert_allclose(scores["reconstruction"], residual, rtol=1e-5)
    latent_scale, recon_scale = detector.score_scale_
    expected = 0.1 * scores["latent"] / latent_scale + 0.9 * scores["reconstruction"] / recon_scale
    np.testing.assert_allclose(scores["combined"], expected, rtol=1e-5)
    # The scales are the training means of each term.
    train_latent = -fast(GANomalyDetector).fit(inliers).score_samples(inliers)
    assert latent_scale == pytest.approx(train_latent.mean(), rel=1e-5)


def test_ganomaly_score_is_float64_and_batch_independent(blobs):
    detector = fast(GANomalyDetector).fit(blobs[0])
    X = np.vstack([blobs[0][:300], blobs[1]])
    together = detector.score_samples(X)
    alone = np.array([detector.score_samples(row[None])[0] for row in X[::7]])
    assert together.dtype == np.float64
    np.testing.assert_array_equal(together[::7], alone)


def test_egbad_reconstructions_follow_their_inputs(digits_images):
    # The paper's pure BiGAN reconstructs nearly the same image for every
    # input; cycle consistency makes E invert G.
    X, y = digits_images
    digit = X[y == 1]
    detector = EGBADDetector(
        n_epochs=30,
        n_filters=8,
        batch_size=32,
        learning_rate=2e-3,
        cycle_weight=20,
        random_state=0,
    )
    reconstructions = detector.fit(digit).reconstruct(digit)
    diversity = reconstructions.std(axis=0).mean() / digit.std(axis=0).mean()
    assert diversity >= 0.5


def test_egbad_inverted_discrimination_term_is_dropped(blobs, monkeypatch):
    original = EGBADDetector._score_terms

    def inverted(self, nets, x):
        residual, discrimination = original(self, nets, x)
        return residual, -discrimination

    monkeypatch.setattr(EGBADDetector, "_score_terms", inverted)
    with pytest.warns(UserWarning, match="disc_weight_ = 0"):
        detector = fast(EGBADDetector, disc_weight=0.5).fit(blobs[0])
    assert detector.disc_weight_ == 0.0
    residual = (np.abs(blobs[1] - detector.reconstruct(blobs[1])) / detector.scale_).mean(1)
    np.testing.assert_allclose(-detector.score_samples(blobs[1]), residual, rtol=1e-5)


def test_egbad_sound_discrimination_term_is_kept(blobs):
    detector = fast(EGBADDetector, n_epochs=20, disc_weight=0.5).fit(blobs[0])
    assert detector.disc_weight_ == 0.5


def test_scores_and_maps_in_one_pass(detector_class, digits_images, monkeypatch):
    X = digits_images[0][:40]
    detector = fast(detector_class, n_filters=4).fit(X)
    expected = (-detector.score_samples(X), detector.anomaly_map(X))
    if detector_class.__name__ == "AnoGANDetector":
        calls = []
        original = detector_class._search
        monkeypatch.setattr(
            detector_class, "_search", lambda self, *a: calls.append(1) or original(self, *a)
        )
    scores, maps = detector._scores_and_maps(X)
    np.testing.assert_array_equal(scores, expected[0])
    np.testing.assert_allclose(maps, expected[1], rtol=1e-12, atol=1e-12)
    if detector_class.__name__ == "AnoGANDetector":
        assert len(calls) == 1  # one chunk, searched once for both


def test_rows_beyond_the_training_bounds_are_scored_unclipped(detector_class, blobs):
    # Training rows are clipped to input_bounds_ (a glitch row cannot
    # dominate the scaling); rows to score are not, or every outlier beyond
    # the bounds would score like a row on them.
    # The reconstruction residual, the term that grows with the distance.
    residual_only = (
        {"disc_weight": 0.0}
        if "disc_weight" in detector_class._get_param_names()
        else {"anomaly_score": "reconstruction"}
    )
    detector = fast(detector_class, n_epochs=10, **residual_only).fit(blobs[0])
    high = detector.input_bounds_[1]
    scores = -detector.score_samples(np.vstack([high, 3 * high, 10 * high]))
    assert scores[0] < scores[1] < scores[2]
