"""Faults during training and extreme inputs: stop clearly, never half-fitted, never NaN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .conftest import fast

_rng = np.random.default_rng(1)
ROWS = _rng.normal(size=(48, 4))  # 3 steps per epoch at batch_size=16
IMAGES = _rng.normal(size=(32, 1, 8, 8))


def _fitted_names(detector):
    return sorted(k for k in vars(detector) if k.endswith("_") and not k.startswith("__"))


def _assert_unfitted(detector):
    with pytest.raises(NotFittedError):
        check_is_fitted(detector)
    assert _fitted_names(detector) == []


def _break_train_step(monkeypatch, cls, fault, on_call):
    """Make ``cls._train_step`` call ``fault(losses)`` on its ``on_call``-th call."""
    original = cls._train_step
    calls = []

    def train_step(self, x, optimizers):
        calls.append(1)
        losses = original(self, x, optimizers)
        return fault(losses) if len(calls) == on_call else losses

    monkeypatch.setattr(cls, "_train_step", train_step)
    return calls


# ----------------------------------------------------------------------
# Divergence.
# ----------------------------------------------------------------------
def test_absurd_learning_rate_stops_with_a_clear_error(detector_class):
    detector = fast(detector_class, learning_rate=1e6, n_epochs=20)
    with pytest.raises(
        FloatingPointError, match=r"diverged at epoch \d+: \w+ = \S+\. Try a smaller learning_rate"
    ):
        detector.fit(ROWS)
    _assert_unfitted(detector)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_divergence_names_the_epoch_and_the_loss(detector_class, monkeypatch, bad):
    def poison(losses):
        name = sorted(losses)[0]
        return {**losses, name: torch.tensor(bad)}

    # Call 7 is the first step of epoch 3 (3 steps per epoch).
    calls = _break_train_step(monkeypatch, detector_class, poison, on_call=7)
    detector = fast(detector_class, n_epochs=5, learning_rate=3e-4)
    with pytest.raises(
        FloatingPointError,
        match=rf"diverged at epoch 3: \w+ = {bad}\. .*learning_rate \(now 0.0003\)",
    ):
        detector.fit(ROWS)
    assert len(calls) == 9  # stopped at the end of epoch 3, not after epoch 5
    _assert_unfitted(detector)


def test_non_finite_scores_after_training_are_an_error(detector_class, monkeypatch):
    def nan_scores(self, nets, x):
        return torch.full((len(x),), float("nan"))

    monkeypatch.setattr(detector_class, "_anomaly_score", nan_scores)
    detector = fast(detector_class)
    with pytest.raises(FloatingPointError, match="non-finite anomaly scores"):
        detector.fit(ROWS)
    _assert_unfitted(detector)


# ----------------------------------------------------------------------
# Finite input, finite output.
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_models():
    return {}


@pytest.fixture(params=["tabular", "images"])
def fitted(request, detector_class, fitted_models):
    key = (detector_class, request.param)
    if key not in fitted_models:
        if request.param == "tabular":
            fitted_models[key] = fast(detector_class, hidden_dims=(8,)).fit(ROWS), ROWS
        else:
            fitted_models[key] = fast(detector_class, n_filters=2).fit(IMAGES), IMAGES
    return fitted_models[key]


@pytest.mark.parametrize(
    "value", [1e6, 1e30, 1e300, np.finfo(np.float64).max, -np.finfo(np.float64).max]
)
def test_huge_finite_inputs_give_finite_scores(fitted, value):
    detector, X = fitted
    X_test = np.r_[X[:4], np.full((1, *X.shape[1:]), value)]
    alternating = X[:1] * 0 + value * np.where(np.arange(X[0].size) % 2, 1, -1).reshape(X[0].shape)
    X_test = np.r_[X_test, alternating]
    with np.errstate(all="raise"):  # no overflow warnings either
        scores = detector.score_samples(X_test)
        decision = detector.decision_function(X_test)
        reconstruction = detector.reconstruct(X_test)
    assert np.all(np.isfinite(scores)) and np.all(np.isfinite(decision))
    assert np.all(np.isfinite(reconstruction))
    np.testing.assert_array_equal(detector.score_samples(X[:4]), scores[:4])


def test_huge_float32_input_gives_finite_scores(fitted):
    detector, X = fitted
    X_test = np.full((2, *X.shape[1:]), np.finfo(np.float32).max, dtype=np.float32)
    assert np.all(np.isfinite(detector.score_samples(X_test)))


def test_training_on_huge_finite_values_matches_training_on_the_same_data_rescaled(
    detector_class,
):
    # Standardisation makes the fit scale-free; near the float64 limit its
    # statistics must not overflow (which would turn every row into zeros).
    small = fast(detector_class, hidden_dims=(8,)).fit(ROWS)
    huge = fast(detector_class, hidden_dims=(8,)).fit(ROWS * 1e300)
    np.testing.assert_allclose(huge.scale_, small.scale_ * 1e300, rtol=1e-12)
    np.testing.assert_allclose(
        huge.score_samples(ROWS * 1e300), small.score_samples(ROWS), rtol=1e-4, atol=1e-6
    )


# ----------------------------------------------------------------------
# Interrupts.
# ----------------------------------------------------------------------
def _interrupt(losses):
    raise KeyboardInterrupt


def test_keyboard_interrupt_leaves_the_estimator_unfitted(detector_class, monkeypatch):
    rng_state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    calls = _break_train_step(monkeypatch, detector_class, _interrupt, on_call=3)
    detector = fast(detector_class, n_epochs=3)
    with pytest.raises(KeyboardInterrupt):
        detector.fit(ROWS)
    assert len(calls) == 3
    _assert_unfitted(detector)
    # The process stays usable: global torch state is as before.
    assert torch.equal(torch.random.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    assert torch.is_grad_enabled()

    monkeypatch.undo()
    detector.fit(ROWS)
    reference = fast(detector_class, n_epochs=3).fit(ROWS)
    np.testing.assert_array_equal(detector.score_samples(ROWS), reference.score_samples(ROWS))


def test_interrupted_refit_does_not_leave_the_old_model_half_replaced(detector_class, monkeypatch):
    detector = fast(detector_class, n_epochs=2).fit(ROWS)
    _break_train_step(monkeypatch, detector_class, _interrupt, on_call=2)
    with pytest.raises(KeyboardInterrupt):
        detector.fit(ROWS[:40])
    _assert_unfitted(detector)
