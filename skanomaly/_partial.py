"""``partial_fit``: training chunk by chunk, test-then-train.

A mixin of :class:`skanomaly._base.BaseGANDetector`: the first call
initialises as ``fit`` does, later calls score their rows before training one
pass on them, with the optimisers' state carried between calls.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils import check_random_state

from ._optim import release_parameters
from ._runtime import _seeded_torch
from ._training import TrainingLoop, check_losses

__all__ = []

# ``partial_fit`` keeps the anomaly scores of at most this many recent
# training rows, from which ``decision_scores_`` and ``offset_`` come.
_PARTIAL_FIT_SCORES = 10_000


def _to_cpu(value):
    """A copy of nested dicts of tensors (an optimiser's state) on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    return value


class _PartialFitMixin:
    """``partial_fit`` and the state it carries between calls."""

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train on one chunk of data: the first call initialises, later calls continue.

        The first call (on an unfitted detector) validates ``X``, learns the
        input scaling from it, builds the networks for its shape and sizes,
        as ``fit`` would, and trains one pass over its rows. Every later
        call trains one more pass, in batches of ``batch_size``, over the
        rows it is given, with the optimisers' state carried over from the
        previous call; its rows must have the features (image shape) of the
        first call's. Called on a detector fitted by ``fit``, it continues
        training from the fitted weights. ``fit`` starts afresh.
        ``n_epochs`` and early stopping apply to ``fit`` only.

        After every call ``offset_``, ``decision_scores_``, ``predict`` and
        the scores are ready. ``decision_scores_`` holds the anomaly scores
        of the most recent training rows (at most 10,000; a random sample of
        a larger call's rows), each taken *before* the networks trained on
        it, so that they are scores of data the networks have not learned,
        as new data's are ("test-then-train"). The first call's rows, which
        untrained networks cannot score, are scored after training, by the
        ensemble members that did not train on them, as in ``fit``.
        ``offset_`` comes from these scores as ``fit`` takes it from its
        own, and with several ensemble members ``member_scaling_`` is
        refreshed from them too. Batch-norm statistics are recomputed after
        every call from the most recent training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            A chunk of training data. The first call needs at least 2 rows
            (and, with several ensemble members, enough rows for each to
            train on 2); a later call trains on a chunk of 2 rows or more
            (a single row is scored, not trained on: batch norm needs 2).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The updated detector.

        Raises
        ------
        ValueError
            When ``X`` does not have the number of features (or the image
            shape) of the first call.
        skanomaly.exceptions.TrainingDivergedError
            When a loss or a score is no longer finite. A failed call
            leaves the detector as it was before the call.

        Notes
        -----
        The input scaling is learned from the first call only: make its
        chunk representative (and, for tables, not tiny). The optimisers'
        state and the recent training rows used for batch-norm statistics
        are kept by ``pickle`` / ``joblib``, not by :func:`skanomaly.save`:
        after :func:`skanomaly.load`, ``partial_fit`` continues with fresh
        optimiser moments.

        Examples
        --------
        >>> import numpy as np
        >>> from skanomaly import GANomalyDetector
        >>> rng = np.random.default_rng(0)
        >>> detector = GANomalyDetector(random_state=0)
        >>> for _ in range(20):
        ...     detector = detector.partial_fit(rng.normal(size=(100, 4)))
        >>> detector.n_samples_seen_
        2000
        >>> detector.predict([[0.0, 0.0, 0.0, 0.0], [9.0, -9.0, 9.0, -9.0]])
        array([ 1, -1])
        """
        if not hasattr(self, "offset_"):
            try:
                self._partial_fit_first(X)
            except BaseException:
                self._forget_fit()
                raise
            return self
        before = dict(vars(self)), self._network_state()
        try:
            self._partial_fit_more(X)
        except BaseException:
            # Leave the detector as it was before this call.
            vars(self).clear()
            vars(self).update(before[0])
            for name, module in self._networks().items():
                module.load_state_dict(before[1][name])
            raise
        return self

    def _partial_fit_first(self, X) -> None:
        """The first ``partial_fit``: initialise as ``fit`` does, train one pass."""
        X, _ = self._validate_input(X, reset=True)
        random_state = self._start_fit(len(X), lambda: self._fit_scaling(X))
        seed = random_state.randint(np.iinfo(np.int32).max)
        data = self._to_tensor(X, clip_to_bounds=True)
        state = {"random_state": random_state, "optimizers": None, "recent": data[:0]}
        with _seeded_torch(seed, self.device_), self._threads():
            self._build_initial_networks()
            bags = self._draw_bags(torch.arange(len(data)))
            self.history_ = {}
            self._partial_pass(data, bags, state)
        # Untrained networks cannot score: the first rows are scored after
        # training, each by the members that did not train on it (as in fit).
        honest = np.ones((len(X), self.n_estimators_), dtype=bool)
        if self.n_estimators_ > 1:
            for member, rows in enumerate(bags):
                honest[rows.numpy(), member] = False
        self.n_samples_seen_ = len(X)
        self._update_partial_scores(state, self._raw_member_scores(X, honest), honest)
        self._partial_fit_state = state

    def _partial_fit_more(self, X) -> None:
        """A later ``partial_fit``: score the rows, then train one pass on them."""
        X, _ = self._validate_input(X, reset=False)
        state = dict(self._partial_state())
        state["random_state"] = copy.deepcopy(state["random_state"])
        # Test-then-train: the rows are scored before the networks learn them.
        scores = self._raw_member_scores(X)
        seed = state["random_state"].randint(np.iinfo(np.int32).max)
        data = self._to_tensor(X, clip_to_bounds=True)
        with _seeded_torch(seed, self.device_), self._threads():
            bags = self._partial_bags(torch.arange(len(data)))
            if bags is not None:
                self._partial_pass(data, bags, state)
        self.n_samples_seen_ += len(X)
        self._update_partial_scores(state, scores, np.ones(scores.shape, dtype=bool))
        self._partial_fit_state = state

    def _partial_state(self) -> dict:
        """The state ``partial_fit`` carries between calls; made anew after ``fit`` or a load.

        Then the recent scores start from ``decision_scores_``, given to
        every member at the scale ``member_scaling_`` undoes, so that the
        refreshed scaling ranks them as before, and the optimisers start
        afresh.
        """
        state = getattr(self, "_partial_fit_state", None)
        if state is not None:
            return state
        random_state = check_random_state(self.random_state)
        anomaly_scores = np.asarray(self.decision_scores_, dtype=np.float64)
        if len(anomaly_scores) > _PARTIAL_FIT_SCORES:
            keep = random_state.choice(len(anomaly_scores), _PARTIAL_FIT_SCORES, replace=False)
            anomaly_scores = anomaly_scores[np.sort(keep)]
        scores = anomaly_scores[:, None].repeat(self.n_estimators_, 1)
        if self.n_estimators_ > 1:
            center, spread = self.member_scaling_
            scores = center + spread * scores
        if not hasattr(self, "n_samples_seen_"):
            self.n_samples_seen_ = len(self.decision_scores_)
        return {
            "random_state": random_state,
            "optimizers": None,
            "recent": torch.empty(0, *(self.image_shape_ or (self.n_features_in_,))),
            "scores": scores,
            "honest": np.ones(scores.shape, dtype=bool),
        }

    def _partial_bags(self, rows: torch.Tensor) -> list[torch.Tensor] | None:
        """Each member's rows of a later ``partial_fit`` call; None when there is nothing to train.

        Drawn as ``_draw_bags`` does, but a member left with fewer than 2
        rows gets more of the call's rows at random: the call's scores were
        taken before training, so no row needs to stay out of a bag.
        """
        if len(rows) < 2:
            return None
        n_members = self.n_estimators_
        if n_members == 1:
            return [rows]
        bags = []
        for mine in self._bag_masks(len(rows)):
            if int(mine.sum()) < 2:
                others = torch.nonzero(~mine).flatten()
                extra = others[torch.randperm(len(others))[: 2 - int(mine.sum())]]
                mine[extra] = True
            bags.append(rows[mine])
        return bags

    def _partial_pass(self, data: torch.Tensor, bags: list[torch.Tensor], state: dict) -> None:
        """One pass over ``bags`` of the scaled ``data``, the optimisers' state kept in ``state``.

        Then batch norm is recalibrated, and score scales refitted, on the
        most recent training rows.
        """
        on_device = data.to(self.device_) if data.nbytes <= 2**30 else data
        optimizers = self._make_optimizers()
        try:
            if state["optimizers"] is not None:
                for name, optimizer in optimizers.items():
                    # The moments carry over; the settings are today's (set_params).
                    settings = optimizer.state_dict()["param_groups"]
                    optimizer.load_state_dict(
                        {"state": state["optimizers"][name], "param_groups": settings}
                    )
            loop = TrainingLoop(self)
            shuffle = torch.Generator().manual_seed(int(torch.randint(2**31 - 1, ()).item()))
            means, losses = loop.run_steps(
                on_device, loop.epoch_batches(bags, shuffle), optimizers
            )
            state["optimizers"] = {
                name: _to_cpu(optimizer.state_dict()["state"])
                for name, optimizer in optimizers.items()
            }
        finally:
            release_parameters(optimizers.values())
        if losses:
            self._end_epoch(losses)
            check_losses(means, "in partial_fit", self.learning_rate)
            history = {name: list(values) for name, values in self.history_.items()}
            for name in [*history, *(name for name in means if name not in history)]:
                history.setdefault(name, []).append(means.get(name, math.nan))
            self.history_ = history
        recent = torch.cat([state["recent"], data])[-self._calibration_rows() :]
        state["recent"] = recent
        self._calibrate_batch_norm(recent)
        self._fit_score_scale(recent)

    def _update_partial_scores(self, state: dict, scores: np.ndarray, honest: np.ndarray) -> None:
        """Add a call's raw member scores to the recent ones; set the threshold from them.

        Only the most recent scores are kept: earlier ones belong to weights
        that have moved since.
        """
        if len(scores) > _PARTIAL_FIT_SCORES:
            keep = np.sort(
                state["random_state"].choice(len(scores), _PARTIAL_FIT_SCORES, replace=False)
            )
            scores, honest = scores[keep], honest[keep]
        if "scores" in state:
            scores = np.concatenate([state["scores"], scores])[-_PARTIAL_FIT_SCORES:]
            honest = np.concatenate([state["honest"], honest])[-_PARTIAL_FIT_SCORES:]
        state["scores"], state["honest"] = scores, honest
        if self.n_estimators_ == 1:
            anomaly_scores = scores[:, 0].copy()
        else:
            anomaly_scores = self._combine_member_scores(scores, honest)
        self._check_finite_scores(anomaly_scores)
        self.decision_scores_ = anomaly_scores
        self.offset_ = self._fit_offset(anomaly_scores)
