"""Ensembles: several networks side by side in one batch, and their combined score.

A mixin of :class:`skanomaly._base.BaseGANDetector`. With ``n_estimators_``
members, a batch is folded (repeated once per member along the rows), every
ensemble layer (``skanomaly.networks.mlp``) gives each member its block of
rows, and the members' outputs are unfolded again. Each member trains on its
own random bag of rows; the rows out of a member's bag give the honest
scores that set the threshold (docs/training.md). A detector may leave out
of its combined score the members that explain those rows far worse than
the others (``_member_loss_ratio``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import torch

from .losses import trim_weights

__all__ = []


class _EnsembleMixin:
    """Folding, bagging and combining the members' scores."""

    # A member whose median out-of-bag score (its typical loss on rows it did
    # not train on) is more than this many times the median member's is left
    # out of the combined score and reconstruction: for a score that is a
    # model's loss, a network that failed to learn the data (AnoGAN's
    # generators now and then do). None: every member counts.
    _member_loss_ratio: float | None = None

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` once for every ensemble member, stacked along the rows."""
        n_members = self.n_estimators_
        if n_members == 1:
            return x
        return x.repeat(n_members, *([1] * (x.dim() - 1)))

    def _members_mean(self, out: torch.Tensor, *, counted_only: bool = False) -> torch.Tensor:
        """Mean over the members of a row-stacked output (see ``_fold``).

        ``counted_only``: over the members that count (``_counted_members``),
        as in the combined score; a fitted ensemble only.
        """
        n_members = self.n_estimators_
        if n_members == 1:
            return out
        blocks = out.reshape(n_members, -1, *out.shape[1:])
        return self._counted_mean(blocks, dim=0) if counted_only else blocks.mean(0)

    def _trim(self, criterion: torch.Tensor) -> torch.Tensor | None:
        """Row weights of robust training for a per-row ``criterion`` (see :func:`trim_weights`).

        ``None`` (an untrimmed batch mean) when robust training is off.
        """
        return trim_weights(criterion, self.trim_fraction_, n_groups=self.n_estimators_)

    def _member_scores(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """``(n, n_members)`` anomaly scores of ``x`` by each member."""
        return self._anomaly_score(nets, self._fold(x)).reshape(self.n_estimators_, -1).T

    def _ensemble_score(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """The anomaly score of ``x``: the paper's score, or the members' combined."""
        if self.n_estimators_ == 1:
            return self._anomaly_score(nets, x)
        scores = self._member_scores(nets, x)
        center, spread = (
            torch.as_tensor(v, dtype=scores.dtype, device=scores.device)
            for v in self.member_scaling_
        )
        return self._counted_mean((scores - center) / spread, dim=1)

    def _ensemble_reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of ``x``: the mean of the counted members' reconstructions."""
        return self._members_mean(self._reconstruct(nets, self._fold(x)), counted_only=True)

    def _counted_mean(self, values: torch.Tensor, dim: int) -> torch.Tensor:
        """Mean over the members that count (``_counted_members``) along ``dim``."""
        counted = self._counted_members()
        if not counted.all():
            values = values.index_select(
                dim, torch.from_numpy(np.flatnonzero(counted)).to(values.device)
            )
        return values.mean(dim)

    def _counted_members(self, center: np.ndarray | None = None) -> np.ndarray:
        """Which members count in the combined score: a boolean per member.

        ``center`` (default: ``member_scaling_[0]``) holds the members'
        median out-of-bag scores; with ``_member_loss_ratio`` set, a member
        whose median is more than that ratio times the median member's is
        left out. The median member always counts.
        """
        if center is None:
            center = self.member_scaling_[0]
        ratio, typical = self._member_loss_ratio, np.median(center)
        if ratio is None or not typical > 0:
            return np.ones(len(center), dtype=bool)
        return center <= ratio * typical

    def _ensemble_score_and_reconstruct(self, nets: SimpleNamespace, x: torch.Tensor) -> tuple:
        if self.n_estimators_ == 1:
            return self._score_and_reconstruct(nets, x)
        return self._ensemble_score(nets, x), self._ensemble_reconstruct(nets, x)

    def _draw_bags(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """The training rows of each ensemble member, as index tensors.

        One member trains on every row. Several members each train on a
        random part of the rows: each row goes to ``ceil(k / 2)`` of the
        ``k`` members, drawn at random, so that every row is *out of the
        bag* of ``floor(k / 2)`` members, which give it an honest score (see
        ``_out_of_bag_scores``). ``rows`` leaves out the validation rows.
        """
        n_members = self.n_estimators_
        if n_members == 1:
            return [rows]
        bags = [rows[mine] for mine in self._bag_masks(len(rows))]
        if min(len(bag) for bag in bags) < 2:
            raise ValueError(
                f"n_estimators={n_members} leaves a member fewer than 2 training rows "
                f"out of {len(rows)}: give more rows or fewer estimators."
            )
        return bags

    def _bag_masks(self, n_rows: int) -> list[torch.Tensor]:
        """Which of ``n_rows`` rows each member trains on: ``ceil(k / 2)`` random members a row."""
        n_members = self.n_estimators_
        # For each row, a random order of the members; the first ones train on it.
        member_of = torch.rand(n_rows, n_members).argsort(1)[:, : math.ceil(n_members / 2)]
        return [(member_of == member).any(1) for member in range(n_members)]

    def _out_of_bag_scores(self, X: np.ndarray, bags: list[torch.Tensor]) -> np.ndarray:
        """Anomaly scores of the training rows by the members that did not train on them.

        One member scores every row (there is no row it has not seen). With
        several, each member's scores are standardised by the median and
        interquartile range of its scores on the rows out of its bag
        (``member_scaling_``), so that members of different scales weigh
        the same; a new row's score is the mean over the members (those
        that count, see ``_counted_members``), and a training row's the
        mean over those out of whose bag it is: scores of data the networks
        have not learned, as new data's are.
        """
        if self.n_estimators_ == 1:
            return self._score_tensor(X)
        out_of_bag = np.ones((len(X), self.n_estimators_), dtype=bool)
        for member, rows in enumerate(bags):
            out_of_bag[rows.numpy(), member] = False
        scores = self._raw_member_scores(X, out_of_bag)
        return self._combine_member_scores(scores, out_of_bag)

    def _raw_member_scores(self, X: np.ndarray, wanted: np.ndarray | None = None) -> np.ndarray:
        """``(n, n_members)`` float64 anomaly scores of validated rows by each member.

        With a boolean ``wanted`` of that shape, only those entries are
        computed (the others are 0): each member scores only its own rows,
        which saves most of the work when they are its out-of-bag rows (2 of
        5 members a row) and the score is a search (AnoGAN). Every row still
        goes through chunks of the same size, so its scores are the same,
        bit for bit, as when every member scores every row.
        """
        if wanted is None or wanted.all():
            return torch.cat(self._per_chunk(X, self._member_scores)).double().cpu().numpy()
        n_members, size = self.n_estimators_, self._score_batch_rows()
        rows = [np.flatnonzero(column) for column in wanted.T]
        n_chunks = max(-(-len(mine) // size) for mine in rows)
        # Chunk c holds rows [c * size, (c + 1) * size) of every member's list,
        # member after member: the layout of ``_fold``. Short lists are padded
        # with their own rows again.
        index = np.stack([np.resize(mine, n_chunks * size) for mine in rows])
        index = index.reshape(n_members, n_chunks, size).transpose(1, 0, 2).reshape(-1)
        parts = self._per_chunk(_Gathered(X, index), self._anomaly_score, n_members * size)
        by_member = torch.cat(parts).double().cpu().numpy().reshape(n_chunks, n_members, size)
        scores = np.zeros(wanted.shape)
        for member, mine in enumerate(rows):
            scores[mine, member] = by_member[:, member].reshape(-1)[: len(mine)]
        return scores

    def _combine_member_scores(self, scores: np.ndarray, honest: np.ndarray) -> np.ndarray:
        """Set ``member_scaling_`` from the ``honest`` entries of ``scores``; their mean per row.

        ``scores`` are the members' raw scores of some rows, ``honest`` says
        which of them come from a member that had not trained on the row.
        """
        center, spread = np.empty(scores.shape[1]), np.empty(scores.shape[1])
        for member in range(scores.shape[1]):
            mine = scores[honest[:, member], member]
            q1, center[member], q3 = np.percentile(mine, [25, 50, 75])
            # A member that scores (almost) every row alike: keep it harmless.
            spread[member] = max(q3 - q1, np.std(mine), np.finfo(np.float32).tiny)
        self.member_scaling_ = np.stack([center, spread])
        standardised = (scores - center) / spread
        # Members left out of new rows' scores are left out here too, but
        # for rows that no counted member scores honestly.
        counted = honest & self._counted_members(center)
        uncounted_rows = ~counted.any(1)
        counted[uncounted_rows] = honest[uncounted_rows]
        return (standardised * counted).sum(1) / counted.sum(1)


class _Gathered:
    """Rows ``index`` of validated rows ``data``, gathered a slice (a chunk) at a time."""

    def __init__(self, data, index: np.ndarray):
        self.data, self.index = data, index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: slice):
        return self.data[self.index[key]]
