"""Training on an image folder read from disk batch by batch, not loaded whole.

:func:`fit_folder` trains a detector on a
:class:`skanomaly.datasets.ImageFolderDataset`: a first streamed pass finds
the image shape and the pixel range that the input scaling needs, then every
training step, the batch-norm calibration and the scoring of the training
images read the images they need, batch by batch (:class:`ScaledImages`).
Memory holds the networks and a few batches, whatever the number of images.
:func:`fit_folder` is exported by :mod:`skanomaly.datasets`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from ._runtime import read_ahead
from .datasets import ImageFolderDataset

__all__ = ["fit_folder"]


class ScaledImages:
    """A folder's images as a detector's training code indexes its scaled data.

    What ``fit`` does with the tensor of the scaled training rows, this
    does with images read from disk: ``len``, ``stream[slice]`` and
    ``stream[index_tensor]`` (a scaled float32 tensor of those images),
    ``split(n)``, ``subset(index)`` (a stream of some of the images) and
    ``batches(indices)`` (the scaled batches of a training epoch, read ahead
    by ``num_workers`` processes). The scaling is the detector's, exactly as
    for an array of the same images: a stream gives the same tensors as
    ``detector._to_tensor`` of ``load_image_folder(...).images``.
    """

    def __init__(self, images: ImageFolderDataset, detector, num_workers: int = 0, index=None):
        self.images = images
        self.detector = detector
        self.num_workers = num_workers
        self.index = np.arange(len(images)) if index is None else np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    def _scaled(self, arrays: list[np.ndarray]) -> torch.Tensor:
        rows = np.stack(arrays).reshape(len(arrays), -1)
        return self.detector._to_tensor(rows, clip_to_bounds=True)

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        chosen = self.index[key]
        (arrays,) = read_ahead(self.images, [chosen])
        return self._scaled(arrays)

    def split(self, size: int) -> Iterator[torch.Tensor]:
        """Consecutive chunks of ``size`` scaled images, as ``torch.Tensor.split``."""
        return self.batches(
            [
                torch.arange(start, min(start + size, len(self)))
                for start in range(0, len(self), size)
            ]
        )

    def subset(self, index: torch.Tensor) -> ScaledImages:
        return ScaledImages(
            self.images, self.detector, self.num_workers, self.index[index.numpy()]
        )

    def batches(self, indices: Iterable[torch.Tensor]) -> Iterator[torch.Tensor]:
        """The scaled images of each index tensor of ``indices``, read ahead by the workers."""
        chosen = [self.index[index.cpu().numpy()] for index in indices]
        for arrays in read_ahead(self.images, chosen, self.num_workers):
            yield self._scaled(arrays)


def fit_folder(
    detector,
    folder,
    image_size=None,
    grayscale=None,
    *,
    normal_class=None,
    anomalous_class=None,
    num_workers=0,
):
    """Fit ``detector`` on an image folder, reading the images from disk batch by batch.

    The same training as ``detector.fit(load_image_folder(folder, ...).images)``
    (same steps, same random draws, the same fitted model: identical
    scores), without holding the images in memory: a first pass over the
    files finds their shape and the pixel range that the input scaling
    needs, then each training step reads its batch, and the batch-norm
    calibration and the scores of the training images (``decision_scores_``)
    read the images again in chunks. Memory stays that of the networks and
    a few batches, however many images there are; the price is decoding
    every image once per epoch, plus three times (the scan, the
    calibration, the scores).

    Parameters
    ----------
    detector : AnoGANDetector, EGBADDetector or GANomalyDetector
        The detector to fit (in place).
    folder : str, path-like or ImageFolderDataset
        The training images: a folder, read with the options below, or a
        dataset made by :class:`ImageFolderDataset` (then the options must
        be left out).
    image_size, grayscale, normal_class, anomalous_class
        How to read a folder, as for :func:`load_image_folder`.
    num_workers : int, default=0
        Worker processes that read and decode images ahead of the training
        steps (a ``torch.utils.data.DataLoader``). 0 reads them in the
        training process, between steps.

    Returns
    -------
    detector : object
        The fitted detector.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly import GANomalyDetector
    >>> from skanomaly.datasets import fit_folder, write_image_folder
    >>> rng = np.random.default_rng(0)
    >>> root = write_image_folder("parts", rng.random((20, 16, 16)))  # doctest: +SKIP
    >>> detector = fit_folder(  # doctest: +SKIP
    ...     GANomalyDetector(n_epochs=1, n_filters=8), "parts/train")
    >>> detector.image_shape_  # doctest: +SKIP
    (1, 16, 16)
    """
    if isinstance(folder, ImageFolderDataset):
        images = folder
        given = (image_size, grayscale, normal_class, anomalous_class)
        if any(option is not None for option in given):
            raise ValueError(
                "fit_folder takes image_size, grayscale, normal_class and anomalous_class "
                "with a folder, not with an ImageFolderDataset (which has its own)"
            )
    elif isinstance(folder, (str, os.PathLike)):
        images = ImageFolderDataset(
            folder,
            image_size,
            grayscale,
            normal_class=normal_class,
            anomalous_class=anomalous_class,
        )
    else:
        raise TypeError(
            f"fit_folder takes a folder or an ImageFolderDataset, got {type(folder).__name__}; "
            "use detector.fit for arrays."
        )
    if len(images) < 2:
        raise ValueError(f"{images.root} holds {len(images)} image; training needs at least 2")
    detector._fit_folder(images, num_workers=num_workers)
    return detector


# Documented and pickled under the public module that exports it.
fit_folder.__module__ = "skanomaly.datasets"
