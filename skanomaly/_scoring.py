"""Scoring: fixed-size chunks in ``eval()`` mode, the threshold, and the public scores.

A mixin of :class:`skanomaly._base.BaseGANDetector`: ``score_samples``,
``decision_function``, ``predict``, ``reconstruct`` and ``anomaly_map``,
and the ``offset_`` that ``predict`` thresholds at.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted

from .exceptions import TrainingDivergedError

__all__ = []

# ``contamination="auto"`` flags scores beyond the third quartile plus this
# many interquartile ranges (Tukey's fence).
_AUTO_FENCE = 1.5


class _ScoringMixin:
    """Batched scoring of validated rows, and the threshold."""

    # Whether scoring needs autograd (a latent search does); otherwise it
    # runs in inference mode.
    _score_needs_grad = False

    def _memory_format(self) -> torch.memory_format:
        """Channels-last for images: on the CPU it made GANomaly's training
        steps about 15% and its scoring about 40% faster (docs/throughput.md)."""
        return torch.preserve_format if self.image_shape_ is None else torch.channels_last

    def _score_batch_rows(self) -> int:
        """Rows per scoring chunk: fixed, and sized by memory, not by ``batch_size``.

        Every chunk, the last one padded, has exactly this many rows, so
        that each row goes through the same kernels whichever rows are
        scored with it: its score does not depend on the batch.
        """
        if self.image_shape_ is None:
            return 256
        return int(np.clip(2**18 // self.n_features_in_, 16, 128))

    def _chunks(
        self, data: torch.Tensor | np.ndarray, size: int | None = None
    ) -> Iterator[tuple[torch.Tensor, int]]:
        """Chunks of ``size`` rows (default ``_score_batch_rows()``) on the device,
        and their number of real rows.

        Validated rows (an ndarray) are scaled chunk by chunk, so memory
        stays a few chunks, not a copy of X.
        """
        size = size or self._score_batch_rows()
        for batch in gen_batches(len(data), size):
            part = data[batch]
            if isinstance(part, np.ndarray):
                part = self._to_tensor(part)
            n_rows = len(part)
            if n_rows < size:
                part = torch.cat([part, part.new_zeros((size - n_rows, *part.shape[1:]))])
            yield part.to(self.device_, memory_format=self._memory_format()), n_rows

    def _per_chunk(self, data: torch.Tensor | np.ndarray, hook, size: int | None = None) -> list:
        """``hook(nets, chunk)`` on every fixed-size chunk, cut back to its real rows.

        ``hook`` returns a tensor or a tuple of tensors; the networks are in
        ``eval()`` mode, with no gradient (inference mode unless the
        detector's score needs autograd for a search).
        """
        with torch.inference_mode(not self._score_needs_grad), self._threads():
            nets = self._network_namespace()
            with torch.no_grad():
                parts = []
                for x, n in self._chunks(data, size):
                    out = hook(nets, x)
                    parts.append(
                        tuple(t[:n].detach() for t in out) if isinstance(out, tuple) else out[:n]
                    )
        return parts

    def _probe(self, search_steps: int):
        """A shallow copy that scores one row per chunk, for a fixed amount of work.

        Loading a model file scores a few rows with it (a check that the
        weights can score); a detector whose score is a search (AnoGAN)
        cuts it to ``search_steps`` steps from one start.
        """
        probe = self._shallow_copy()
        probe._score_batch_rows = lambda: 1  # one row per chunk: no padding rows
        return probe

    def _score_tensor(self, data: torch.Tensor | np.ndarray) -> np.ndarray:
        """Anomaly scores (higher = abnormal) of scaled data or validated rows, as float64."""
        return torch.cat(self._per_chunk(data, self._ensemble_score)).double().cpu().numpy()

    def _check_finite_scores(self, anomaly_scores: np.ndarray) -> None:
        if not np.all(np.isfinite(anomaly_scores)):
            raise TrainingDivergedError(
                "training produced non-finite anomaly scores on the training data; "
                "lower learning_rate or check the input scale."
            )

    def _fit_offset(self, anomaly_scores: np.ndarray) -> float:
        """``offset_`` from the training rows' (out-of-bag) anomaly scores.

        A number ``contamination`` flags that share of them. ``"auto"``
        flags the scores above the upper Tukey fence of their distribution
        (third quartile + 1.5 interquartile ranges, Tukey 1977), a rule that
        needs no guess of the share.
        """
        if self.contamination == "auto":
            q1, q3 = np.percentile(anomaly_scores, [25, 75])
            return float(-(q3 + _AUTO_FENCE * (q3 - q1)))
        return float(np.percentile(-anomaly_scores, 100 * self.contamination))

    def score_samples(self, X):
        """Normality score of each sample: the negated anomaly score.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), (n_samples, H, W) \
                or (n_samples, C, H, W)
            Samples to score, in the layout used for ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_samples,), dtype float64
            Higher means more normal.
        """
        check_is_fitted(self)
        X, _ = self._validate_input(X, reset=False)
        return -self._score_tensor(X)

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : array-like
            Samples to score, in the layout used for ``fit`` (rows of
            features, or images).

        Returns
        -------
        decision : ndarray of shape (n_samples,), dtype float64
            Negative for the samples ``predict`` labels -1: ``offset_`` is
            the threshold of ``score_samples``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each sample +1 (inlier) or -1 (outlier).

        Parameters
        ----------
        X : array-like
            Samples to label, in the layout used for ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples,), dtype int
            -1 where ``decision_function`` is negative, else +1.
        """
        decision = self.decision_function(X)
        labels = np.ones(len(decision), dtype=int)
        labels[decision < 0] = -1
        return labels

    def reconstruct(self, X):
        """The model's reconstruction of ``X``, in the units and shape of ``X``.

        Parameters
        ----------
        X : array-like
            Samples, in the layout used for ``fit``.

        Returns
        -------
        X_hat : ndarray of the shape of ``X``, dtype float64
        """
        check_is_fitted(self)
        X, shape = self._validate_input(X, reset=False)
        return self._reconstruct_rows(X).reshape(shape)

    def _reconstruct_rows(self, X: np.ndarray) -> np.ndarray:
        return self._from_tensor(torch.cat(self._per_chunk(X, self._ensemble_reconstruct)))

    def anomaly_map(self, X, *, return_scores: bool = False):
        """Per-feature / per-pixel absolute residual ``|x - reconstruct(x)|``.

        Parameters
        ----------
        X : array-like
            Samples, in the layout used for ``fit``.
        return_scores : bool, default False
            Also return ``score_samples(X)``, computed in the same pass (for
            callers that need both: AnoGAN then searches each sample's code
            once instead of twice).

        Returns
        -------
        residual : ndarray of the shape of ``X``, dtype float64
        scores : ndarray of shape (n_samples,), dtype float64
            ``score_samples(X)``; only when ``return_scores`` is True.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skanomaly import GANomalyDetector
        >>> X = load_digits().data
        >>> detector = GANomalyDetector(n_epochs=1, random_state=0).fit(X)
        >>> residual, scores = detector.anomaly_map(X[:5], return_scores=True)
        >>> residual.shape, scores.shape
        ((5, 64), (5,))
        """
        check_is_fitted(self)
        X, shape = self._validate_input(X, reset=False)
        if not return_scores:
            return np.abs(X - self._reconstruct_rows(X)).reshape(shape)
        scores, reconstructions = zip(
            *self._per_chunk(X, self._ensemble_score_and_reconstruct), strict=True
        )
        reconstruction = self._from_tensor(torch.cat(reconstructions))
        return np.abs(X - reconstruction).reshape(shape), -torch.cat(scores).double().cpu().numpy()
