"""Training: epochs, history, early stopping, batch-norm statistics, and faults.

Divergence, non-finite scores and interrupts stop a fit clearly and never
leave a half-fitted estimator. Each test runs for every detector.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch.nn.modules.batchnorm import _BatchNorm

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector, _base
from skanomaly._optim import FlatAdam, make_adam
from skanomaly.exceptions import TrainingDivergedError

from .conftest import fast, networks

_rng = np.random.default_rng(1)
ROWS = _rng.normal(size=(48, 4))  # 3 steps per epoch at batch_size=16

# The losses each detector records per epoch.
LOSSES = {
    AnoGANDetector: {"loss_d", "loss_g", "loss_adv", "loss_fm"},
    EGBADDetector: {"loss_d", "loss_ge"},
    GANomalyDetector: {"loss_d", "loss_g", "loss_adv", "loss_con", "loss_enc"},
}


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
# The optimiser over one flat buffer (tabular networks).
# ----------------------------------------------------------------------
def _adam_pair(make_net):
    """The same network twice, one under torch's Adam and one under FlatAdam."""
    torch.manual_seed(0)
    plain, flat = make_net(), make_net()
    flat.load_state_dict(plain.state_dict())
    settings = {"lr": 0.01, "betas": (0.5, 0.999), "fused": True}
    return (
        plain,
        torch.optim.Adam(plain.parameters(), **settings),
        flat,
        FlatAdam(flat.parameters(), **settings),
    )


@pytest.mark.parametrize("kind", ["mlp", "conv_channels_last"])
def test_flat_adam_updates_as_adam_does(kind):
    def make_net():
        if kind == "mlp":
            return torch.nn.Sequential(
                torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1)
            )
        net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1)
        )
        net(torch.zeros(1, 3, 6, 6))
        return net.to(memory_format=torch.channels_last)

    plain, plain_adam, flat, flat_adam = _adam_pair(make_net)
    shape = (8, 5) if kind == "mlp" else (8, 3, 6, 6)
    for step in range(4):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(step))
        for net, optimizer in ((plain, plain_adam), (flat, flat_adam)):
            optimizer.zero_grad(set_to_none=True)
            net(x).pow(2).mean().backward()
            optimizer.step()
    for a, b in zip(plain.parameters(), flat.parameters(), strict=True):
        assert a.stride() == b.stride()  # the layout is kept
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    flat_adam.release()
    for a, b in zip(plain.parameters(), flat.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        assert b.grad is None and b.untyped_storage().nbytes() == b.numel() * b.element_size()


def test_flat_adam_leaves_parameters_alone_when_adam_refuses():
    net = torch.nn.Linear(3, 2)
    before = [p.data_ptr() for p in net.parameters()]
    with pytest.raises(ValueError):
        FlatAdam(net.parameters(), lr=-1.0)
    assert [p.data_ptr() for p in net.parameters()] == before
    assert all(p.grad is None for p in net.parameters())


def test_detector_steps_with_the_flat_buffer_match_plain_adam(detector_class, monkeypatch):
    """Each detector's own backward passes (frozen weights, ``inputs=``) fill the buffer."""
    fitted = fast(detector_class, n_epochs=1, random_state=0).fit(ROWS)
    start = fitted._network_state()  # copies
    batch = fitted._fold(fitted._to_tensor(ROWS[:16], clip_to_bounds=True).to(fitted.device_))

    def weights():
        return [p.detach().clone() for m in networks(fitted).values() for p in m.parameters()]

    initial, trained = weights(), {}
    for use_flat in (False, True):
        for name, module in networks(fitted).items():
            module.load_state_dict(start[name])
            module.train()

        def forced(params, *, flat, use_flat=use_flat, **settings):
            return make_adam(params, flat=use_flat, **settings)

        monkeypatch.setattr(_base, "make_adam", forced)
        optimizers = fitted._make_optimizers()
        assert any(isinstance(o, FlatAdam) for o in optimizers.values()) == use_flat
        torch.manual_seed(0)  # the same latent draws
        for _ in range(3):
            fitted._train_step(batch, optimizers)
        trained[use_flat] = weights()
    for a, b in zip(trained[False], trained[True], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not all(map(torch.equal, trained[True], initial))  # the steps did train


def test_fit_gives_every_parameter_its_own_memory(detector_class):
    detector = fast(detector_class, n_epochs=2, random_state=0).fit(ROWS)
    for module in networks(detector).values():
        for p in module.parameters():
            assert p.grad is None
            assert p.untyped_storage().nbytes() == p.numel() * p.element_size()


# ----------------------------------------------------------------------
# Epochs and history.
# ----------------------------------------------------------------------
def test_history_has_every_loss_once_per_epoch(detector_class, fitted_tabular):
    detector = fitted_tabular[detector_class]
    assert detector.n_epochs_ == detector.n_epochs == 2
    assert set(detector.history_) == LOSSES[detector_class]
    assert all(len(v) == 2 and np.isfinite(v).all() for v in detector.history_.values())


def test_auto_epochs_aim_at_a_number_of_steps(detector_class, blobs, monkeypatch):
    # One model, 200 rows at batch_size=64: 4 steps per epoch (the last batch
    # holds 8 rows).
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 80, "image": 8})
    detector = fast(detector_class, n_epochs="auto", batch_size=64, n_estimators=1)
    assert detector.fit(blobs[0]).n_epochs_ == 20 == len(detector.history_["loss_d"])
    # Fewer steps than an epoch: one epoch.
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 3, "image": 8})
    assert detector.fit(blobs[0]).n_epochs_ == 1
    # Five members, each on its bag of about 3/5 of the rows: steps per epoch
    # are those of the smallest bag, ceil(rows / 64).
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 80, "image": 8})
    ensemble = fast(detector_class, n_epochs="auto", batch_size=32).fit(blobs[0])
    assert ensemble.n_estimators_ == 5
    assert ensemble.n_epochs_ == 20  # 4 steps per epoch: bags of 97 to 128 rows
    # 70 images at batch_size=64: 2 steps per epoch.
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 8, "image": 8})
    images = fast(detector_class, n_epochs="auto", n_filters=2, batch_size=64)
    assert images.fit(np.random.default_rng(0).random((70, 1, 8, 8))).n_epochs_ == 4
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 8, "image": 1})
    assert images.fit(np.random.default_rng(0).random((70, 1, 8, 8))).n_epochs_ == 1


def test_anogan_trains_members_with_many_rows_for_fewer_steps():
    # 3,000 steps up to 3,200 rows a member, then 3,000 * sqrt(3,200 / n),
    # at least 2,000: the epochs of a member's rows at 64 a batch.
    detector = AnoGANDetector()
    detector.image_shape_, detector.n_estimators_ = None, 5
    steps = {n: detector._resolve_n_epochs(n) * math.ceil(n / 64) for n in (3000, 6000, 10**5)}
    assert steps[3000] == 64 * 47 >= 3000
    assert 2191 <= steps[6000] == 24 * 94 < 2191 + 94
    assert 2000 <= steps[10**5] == 2 * 1563 < 2000 + 1563


def test_auto_steps_shrink_on_large_sets(detector_class, monkeypatch):
    # Beyond 16 images: 64 * max(sqrt(16 / n), 0.375) steps (at least 24).
    monkeypatch.setattr(detector_class, "_auto_steps", {"tabular": 64, "image": 64})
    shrink = {"tabular": None, "image": (16, 0.375)}
    monkeypatch.setattr(detector_class, "_auto_steps_shrink", shrink)
    images = fast(detector_class, n_epochs="auto", n_filters=2, batch_size=4)
    rng = np.random.default_rng(0)
    # 16 images: 4 steps per epoch, all 64 steps.
    assert images.fit(rng.random((16, 1, 8, 8))).n_epochs_ == 16
    # 64 images: 16 steps per epoch, 64 * sqrt(16 / 64) = 32 steps.
    assert images.fit(rng.random((64, 1, 8, 8))).n_epochs_ == 2
    # 256 images at batch_size=16: 16 steps per epoch; 64 * sqrt(16 / 256) = 16
    # steps would be one epoch, the floor of 24 makes it two.
    large = fast(detector_class, n_epochs="auto", n_filters=2, batch_size=16)
    assert large.fit(rng.random((256, 1, 8, 8))).n_epochs_ == 2
    # Tabular data (None) keeps its steps: 64 rows, 16 steps per epoch.
    assert images.set_params(n_estimators=1).fit(rng.normal(size=(64, 4))).n_epochs_ == 4


def test_verbose_reports_progress(detector_class, blobs, capsys):
    fast(detector_class, verbose=2).fit(blobs[0])
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out and "loss" in out
    fast(detector_class, verbose=1).fit(blobs[0])
    assert "epoch" in capsys.readouterr().err  # tqdm writes the bar to stderr


def test_determinism_and_no_global_seeding(detector_class, blobs):
    inliers, _ = blobs
    torch_state = torch.random.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global generator)
    first = fast(detector_class, random_state=3).fit(inliers).score_samples(inliers)
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    second = fast(detector_class, random_state=3).fit(inliers).score_samples(inliers)
    np.testing.assert_array_equal(first, second)
    other = fast(detector_class, random_state=4).fit(inliers).score_samples(inliers)
    assert not np.array_equal(first, other)


# ----------------------------------------------------------------------
# Early stopping and batch-norm statistics.
# ----------------------------------------------------------------------
def _batch_norm_inputs(detector, X):
    """Mean and variance of each batch-norm layer's input, in eval mode, over X."""
    layers = [
        m
        for net in networks(detector).values()
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
            data = data.to(detector.device_)
            detector._calibration_pass(detector._network_namespace(), detector._fold(data))
    finally:
        for hook in hooks:
            hook.remove()
    moments = {}
    for layer, inputs in seen.items():
        x = torch.cat(inputs).double()
        dims = [d for d in range(x.dim()) if d != 1]
        moments[layer] = (x.mean(dims).cpu(), x.var(dims, unbiased=False).cpu())
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
        np.testing.assert_allclose(layer.running_mean.double().cpu(), mean, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(layer.running_var.double().cpu(), var, rtol=1e-3, atol=1e-4)


def test_early_stopping_keeps_the_best_epoch(detector_class, blobs):
    X = blobs[0]
    detector = fast(detector_class, n_epochs=40, early_stopping=True, n_iter_no_change=3)
    detector.set_params(tol=1e9, n_estimators=1)
    training_scores = detector.fit(X).decision_scores_
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
        n_estimators=1,
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


# ----------------------------------------------------------------------
# Divergence and non-finite scores.
# ----------------------------------------------------------------------
def test_absurd_learning_rate_stops_with_a_clear_error(detector_class):
    detector = fast(detector_class, learning_rate=1e6, n_epochs=20)
    with pytest.raises(
        TrainingDivergedError,
        match=r"diverged at epoch \d+: \w+ = \S+\. Try a smaller learning_rate",
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
    detector = fast(detector_class, n_epochs=5, learning_rate=3e-4, n_estimators=1)
    with pytest.raises(
        TrainingDivergedError,
        match=rf"diverged at epoch 3: \w+ = {bad}\. .*learning_rate \(now 0.0003\)",
    ):
        detector.fit(ROWS)
    assert len(calls) == 9  # stopped at the end of epoch 3, not after epoch 5
    _assert_unfitted(detector)


def test_non_finite_scores_after_training_are_an_error(nan_scoring):
    detector = fast(nan_scoring)
    with pytest.raises(TrainingDivergedError, match="non-finite anomaly scores"):
        detector.fit(ROWS)
    _assert_unfitted(detector)


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
