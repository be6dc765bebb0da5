"""The training loop: epochs of optimiser steps, with named callbacks.

:class:`TrainingLoop` runs what every detector's ``fit`` runs: the epochs,
each a pass of training steps (the detector's ``_train_step`` hook) over its
batches, and after each epoch the callbacks, in order:

- :class:`ValidationLoss` (with early stopping): batch-norm statistics of
  the current weights, then the label-free loss of the held-out rows;
- :class:`DivergenceCheck`: a loss that is not finite, or beyond sane,
  stops training with :class:`~skanomaly.exceptions.TrainingDivergedError`;
- :class:`Progress`: the ``verbose`` report (a progress bar, or a line per
  epoch);
- :class:`EarlyStopping` (with early stopping): scikit-learn's rule, and
  the best weights put back at the end;
- then any callbacks added around a fit with :func:`training_callbacks`
  (the benchmarks use it to watch training without changing it).

After the epochs the batch-norm statistics of the final weights are set
from the training rows (:mod:`skanomaly._batchnorm`).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn
from tqdm.auto import tqdm

from ._optim import release_parameters
from .exceptions import TrainingDivergedError

__all__ = [
    "Callback",
    "DivergenceCheck",
    "EarlyStopping",
    "Progress",
    "TrainingLoop",
    "ValidationLoss",
    "check_losses",
    "detached",
    "frozen_weights",
    "mixed_precision",
    "rows_of",
    "training_callbacks",
    "update",
]

# Losses are computed on scaled data, where sane values are O(1) to O(100); an
# epoch mean beyond this has diverged even if float32 has not overflowed yet.
_DIVERGED_LOSS = 1e10

# The autocast dtype of the training steps inside ``mixed_precision`` (None: float32).
_AUTOCAST: contextvars.ContextVar[torch.dtype | None] = contextvars.ContextVar(
    "skanomaly_training_autocast", default=None
)

# Callbacks added to every fit inside ``training_callbacks``.
_EXTRA_CALLBACKS: contextvars.ContextVar[tuple] = contextvars.ContextVar(
    "skanomaly_training_callbacks", default=()
)


def rows_of(data, index: torch.Tensor):
    """The rows ``index`` of scaled training data: a tensor, or a stream of images."""
    if isinstance(data, torch.Tensor):
        return data[index.to(data.device)]
    return data.subset(index)


@contextmanager
def frozen_weights(module: nn.Module) -> Iterator[None]:
    """Inside, ``module``'s weights get no gradient; its inputs still do.

    For the generators' updates: the discriminator's weight gradients they
    would compute are zeroed before its own next update, unused.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, **backward) -> None:
    """One optimiser step on ``loss`` (``backward`` options: ``inputs``, ``retain_graph``)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(**backward)
    optimizer.step()


def detached(**losses: torch.Tensor) -> dict[str, torch.Tensor]:
    """What a training step returns: its losses by name, cut from the graph."""
    return {name: loss.detach() for name, loss in losses.items()}


def check_losses(means: dict[str, float], when: str, learning_rate: float) -> None:
    """Raise :class:`TrainingDivergedError` for a loss that is not finite or beyond sane."""
    bad = {name: value for name, value in means.items() if not abs(value) < _DIVERGED_LOSS}
    if bad:
        name, value = next(iter(bad.items()))
        raise TrainingDivergedError(
            f"training diverged {when}: {name} = {value}. "
            f"Try a smaller learning_rate (now {learning_rate})."
        )


@contextmanager
def training_callbacks(*callbacks: Callback) -> Iterator[None]:
    """Inside, every ``fit`` of this thread (or task) also runs ``callbacks``.

    They run after the loop's own callbacks, and change nothing unless they
    change the networks themselves.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector
    >>> from skanomaly._training import Callback, training_callbacks
    >>> class CountSteps(Callback):
    ...     steps = 0
    ...     def on_step_end(self, loop, losses):
    ...         self.steps += 1
    >>> counter = CountSteps()
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> with training_callbacks(counter):
    ...     _ = GANomalyDetector(n_epochs=2, batch_size=32, n_estimators=1).fit(X)
    >>> counter.steps
    4
    """
    token = _EXTRA_CALLBACKS.set((*_EXTRA_CALLBACKS.get(), *callbacks))
    try:
        yield
    finally:
        _EXTRA_CALLBACKS.reset(token)


@contextmanager
def mixed_precision(dtype: str | torch.dtype = "bfloat16") -> Iterator[None]:
    """Inside, every ``fit`` of this thread runs its training steps under autocast to ``dtype``.

    ``"float32"`` (or ``torch.float32``) changes nothing: the steps' own arithmetic.

    A measuring instrument for the benchmarks (``bench_throughput.py
    --precisions``, ``bench_default_fit.py --precisions``), not a setting of
    the detectors: bfloat16 training was measured to gain no speed at the
    networks' sizes and to ruin GANomaly's latent score (docs/throughput.md).
    Weights, optimiser state and scoring stay float32 / float64.

    Examples
    --------
    >>> import torch
    >>> with mixed_precision("bfloat16"):
    ...     with _step_arithmetic("cpu"):
    ...         (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    """
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    token = _AUTOCAST.set(None if dtype == torch.float32 else dtype)
    try:
        yield
    finally:
        _AUTOCAST.reset(token)


def _step_arithmetic(device: str):
    """The context of the training steps: autocast inside ``mixed_precision``, else none."""
    dtype = _AUTOCAST.get()
    if dtype is None:
        return nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


class Callback:
    """What runs at the named points of :class:`TrainingLoop`; each does nothing here.

    ``loop.detector`` is the detector being fitted, ``loop.history`` the
    epoch means so far.
    """

    def on_train_begin(self, loop: TrainingLoop) -> None:
        """Before the first epoch."""

    def on_step_end(self, loop: TrainingLoop, losses: dict[str, torch.Tensor]) -> None:
        """After each training step, with its (detached, on-device) losses."""

    def on_epoch_end(self, loop: TrainingLoop, epoch: int, means: dict[str, float]) -> bool:
        """After each epoch (numbered from 1), with its mean losses; True stops training.

        ``means`` may be added to: what it holds when every callback has
        run goes into the history.
        """
        return False

    def on_train_end(self, loop: TrainingLoop) -> None:
        """After the last epoch (not after an exception)."""


class ValidationLoss(Callback):
    """The mean label-free loss of the held-out rows (``val_loss``), after each epoch.

    With the batch-norm statistics of the epoch's weights, from the first
    training rows, as scoring would use them.
    """

    def __init__(self, validation: torch.Tensor, calibration: torch.Tensor):
        self.validation = validation
        self.calibration = calibration

    def on_epoch_end(self, loop, epoch, means):
        detector = loop.detector
        detector._calibrate_batch_norm(self.calibration)
        with torch.no_grad():
            nets = detector._network_namespace()
            total = sum(
                float(
                    detector._members_mean(
                        detector._validation_loss(nets, detector._fold(x))
                    ).sum()
                )
                for x in self.validation.split(detector._calibration_rows())
            )
        means["val_loss"] = total / len(self.validation)
        return False


class DivergenceCheck(Callback):
    """Stop with :class:`TrainingDivergedError` when an epoch's loss is not finite or not sane."""

    def on_epoch_end(self, loop, epoch, means):
        check_losses(means, f"at epoch {epoch}", loop.detector.learning_rate)
        return False


class Progress(Callback):
    """The ``verbose`` report: a progress bar (1), or a line per epoch (2 and more)."""

    def on_train_begin(self, loop):
        detector = loop.detector
        self.name = type(detector).__name__
        self.verbose = detector.verbose
        self.bar = tqdm(
            total=loop.n_epochs, desc=self.name, unit="epoch", disable=self.verbose != 1
        )

    def on_epoch_end(self, loop, epoch, means):
        text = ", ".join(f"{name}={value:.4g}" for name, value in means.items())
        if self.verbose == 1:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.verbose >= 2:
            print(f"[{self.name}] epoch {epoch}/{loop.n_epochs}: {text}")
        return False

    def on_train_end(self, loop):
        self.bar.close()


class EarlyStopping(Callback):
    """scikit-learn's rule (``MLPClassifier``): stop after ``n_iter_no_change`` epochs
    without a ``val_loss`` improvement of at least ``tol``; keep the best weights.

    Sets the detector's ``best_epoch_``.
    """

    def __init__(self, n_iter_no_change: int, tol: float):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_train_begin(self, loop):
        self.best_loss, self.best_state, self.no_improvement = math.inf, None, 0

    def on_epoch_end(self, loop, epoch, means):
        loss = means["val_loss"]
        if loss < self.best_loss - self.tol:
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_state = loop.detector._network_state()
            loop.detector.best_epoch_ = epoch
        return self.no_improvement >= self.n_iter_no_change

    def on_train_end(self, loop):
        if self.best_state is not None:
            for name, module in loop.detector._networks().items():
                module.load_state_dict(self.best_state[name])


class TrainingLoop:
    """Epochs of ``detector._train_step`` over batches of the ensemble members' bags.

    Parameters
    ----------
    detector : BaseGANDetector
        The detector being fitted: its networks, hooks and settings
        (``n_epochs_``, ``batch_size``, ``device_``...).
    callbacks : sequence of Callback
        Run after each step and epoch, in order; those of
        :func:`training_callbacks` follow.
    """

    def __init__(self, detector, callbacks=()):
        self.detector = detector
        self.callbacks = [*callbacks, *_EXTRA_CALLBACKS.get()]
        self.history: dict[str, list[float]] = {}

    def fit(self, data, bags: list[torch.Tensor], rows: torch.Tensor, validation) -> dict:
        """Train on the ``bags`` of ``data``; return the history of epoch means.

        ``rows`` are every training row, ``validation`` the held-out rows
        (or None). Leaves the best (or last) weights in the networks, with
        their batch-norm statistics set from the training rows.
        """
        detector = self.detector
        # Small enough: move once instead of per batch (a stream stays where it is).
        if isinstance(data, torch.Tensor) and data.nbytes <= 2**30:
            data = data.to(detector.device_)
        training = data
        callbacks = []
        if validation is not None:
            training = rows_of(data, rows)
            validation = rows_of(data, validation)
            calibration = training[: detector._calibration_rows()]
            callbacks.append(ValidationLoss(validation, calibration))
        callbacks += [DivergenceCheck(), Progress()]
        if validation is not None:
            callbacks.append(EarlyStopping(detector.n_iter_no_change, detector.tol))
        self.callbacks[:0] = callbacks
        optimizers = detector._make_optimizers()
        try:
            self.run_epochs(data, bags, optimizers)
        finally:
            # Every parameter gets its own memory back (see ``BaseGANDetector._adam``).
            release_parameters(optimizers.values())
        detector._calibrate_batch_norm(training)
        return self.history

    @property
    def n_epochs(self) -> int:
        return self.detector.n_epochs_

    def run_epochs(self, data, bags: list[torch.Tensor], optimizers: dict) -> None:
        """The epochs of :meth:`fit`; sets the detector's ``n_epochs_trained_``."""
        detector = self.detector
        shuffle = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))
        for callback in self.callbacks:
            callback.on_train_begin(self)
        epoch = 0
        for epoch in range(1, self.n_epochs + 1):
            means, losses = self.run_steps(data, self.epoch_batches(bags, shuffle), optimizers)
            detector._end_epoch(losses)
            # Every callback runs (a later one may add to the means); any may stop.
            stops = [callback.on_epoch_end(self, epoch, means) for callback in self.callbacks]
            for name, value in means.items():
                self.history.setdefault(name, []).append(value)
            if any(stops):
                break
        for callback in self.callbacks:
            callback.on_train_end(self)
        detector.n_epochs_trained_ = epoch

    def epoch_batches(self, bags: list[torch.Tensor], shuffle: torch.Generator) -> Iterator:
        """Index tensors of one epoch's batches, each member's block after the other's.

        One member: a random order of its rows in batches of ``batch_size``
        (a last batch of one row is skipped: batch norm needs two; the row
        comes back next epoch). Several: each member's batch is drawn from
        its own rows in a random order, as many steps as the largest bag
        needs; smaller bags start a new order where theirs ends, so that
        every step has ``batch_size`` rows of each member.
        """
        batch_size = self.detector.batch_size
        if len(bags) == 1:
            (rows,) = bags
            batch_size = min(batch_size, len(rows))
            order = rows[torch.randperm(len(rows), generator=shuffle)]
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) >= 2:
                    yield index
            return
        batch_size = min(batch_size, min(len(rows) for rows in bags))
        n_steps = math.ceil(max(len(rows) for rows in bags) / batch_size)
        need = n_steps * batch_size
        orders = []
        for rows in bags:
            repeats = math.ceil(need / len(rows))
            perms = [torch.randperm(len(rows), generator=shuffle) for _ in range(repeats)]
            orders.append(rows[torch.cat(perms)[:need]])
        orders = torch.stack(orders)  # (n_members, need)
        for step in range(n_steps):
            yield orders[:, step * batch_size : (step + 1) * batch_size].reshape(-1)

    def run_steps(self, data, batches, optimizers: dict) -> tuple[dict, dict]:
        """One training step per index tensor of ``batches``, the networks in ``train()`` mode.

        Returns the mean of each loss over the steps (empty without a step)
        and the losses of the last step.
        """
        detector = self.detector
        for module in detector._networks().values():
            module.train()
        sums: dict[str, torch.Tensor] = {}
        n_steps = 0
        losses: dict[str, torch.Tensor] = {}
        device = detector.device_
        if isinstance(data, torch.Tensor):
            batches = (data[index.to(data.device)] for index in batches)
        else:
            batches = data.batches(batches)  # a stream reads its images batch by batch
        memory_format = detector._memory_format()
        with _step_arithmetic(device):
            for batch in batches:
                batch = batch.to(device, memory_format=memory_format)
                losses = detector._train_step(batch, optimizers)
                # Summed on the device: one host sync per epoch, not per step.
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + value.detach().float()
                n_steps += 1
                for callback in self.callbacks:
                    callback.on_step_end(self, losses)
        means = {name: float(total) / n_steps for name, total in sums.items()}
        return means, losses
