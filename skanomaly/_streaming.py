"""Training on an image folder read from disk batch by batch, not loaded whole.

:class:`ImageFolderDataset` is a ``torch.utils.data.Dataset`` over the files
of a folder, read by the rules of
:func:`skanomaly.datasets.load_image_folder` (the same listing, labels,
skipped files, modes, sizes and errors), one image per item.
:func:`fit_folder` trains a detector on it: a first streamed pass finds the
image shape and the pixel range that the input scaling needs, then every
training step, the batch-norm calibration and the scoring of the training
images read the images they need, batch by batch. Memory holds the
networks and a few batches, whatever the number of images. Both are
exported by :mod:`skanomaly.datasets`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .datasets import (
    _choose_grayscale,
    _folder_files,
    _read_image,
    _size_mismatch,
    _size_param,
    _warn_transparent,
)

__all__ = ["ImageFolderDataset", "fit_folder"]

# Images per read in the streamed passes that are not training steps (the
# scan); training and scoring read the batches they need.
_SCAN_BATCH = 64


class ImageFolderDataset(Dataset):
    """The images of a folder as a PyTorch dataset, each read from disk when asked for.

    The files, labels, skipped entries, colour rule and errors are those of
    :func:`load_image_folder` (class folders or a flat folder; hidden and
    other files skipped with one warning; EXIF orientation; transparency
    composited onto black), but no image is decoded until it is indexed:
    ``dataset[i]`` is the ``(C, H, W)`` float32 array in [0, 1] that row
    ``i`` of ``load_image_folder(...).images`` would be. Listing the folder
    reads every file's header once (the colour rule), as
    ``load_image_folder`` does.

    Parameters
    ----------
    path : str or path-like
        The folder (``train/`` or ``test/``, not the data set's root).
    image_size : int or (int, int), default=None
        Resize every image (antialiased bilinear). ``None`` keeps the sizes,
        which must then all be equal.
    grayscale : bool, default=None
        ``True`` one channel, ``False`` RGB, ``None`` one channel when every
        image is grey.
    normal_class, anomalous_class : str or list of str, default=None
        Name the class folders, as for :func:`load_image_folder`.

    Attributes
    ----------
    paths : list of str
        The image files, in the order of the items.
    target : ndarray of shape (n_images,) or None
        ``1`` anomaly, ``0`` normal, by class folder; ``None`` for a flat folder.
    classes : list of str
        The class folder names (empty for a flat folder).
    skipped : dict of str to str
        The entries not read, and why (as ``load_image_folder``'s).
    grayscale : bool
        The colour rule resolved.

    See Also
    --------
    fit_folder : train a detector on the dataset.
    load_image_folder : read the whole folder into one array.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import ImageFolderDataset, write_image_folder
    >>> rng = np.random.default_rng(0)
    >>> root = write_image_folder("parts", rng.random((5, 16, 16)))  # doctest: +SKIP
    >>> images = ImageFolderDataset("parts/train")  # doctest: +SKIP
    >>> len(images), images[0].shape  # doctest: +SKIP
    (5, (1, 16, 16))
    """

    def __init__(
        self, path, image_size=None, grayscale=None, *, normal_class=None, anomalous_class=None
    ):
        root, paths, target, classes, skipped = _folder_files(
            path, normal_class, anomalous_class, "ImageFolderDataset"
        )
        self.root = root
        self.paths = paths
        self.target = target
        self.classes = classes
        self.skipped = skipped
        self.grayscale = _choose_grayscale(root, paths, grayscale)
        self.image_size = _size_param(image_size)
        self._scanned = None

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        return _read_image(self.paths[index], self.grayscale, self.image_size)[0]

    def scan(self, num_workers: int = 0) -> tuple[tuple[int, int, int], float, float]:
        """Read every image once: ``((C, H, W), lowest value, highest value)``.

        Checks that the images have one size (as ``load_image_folder``
        does, with its error), and warns once of transparent images. The
        result is kept: a second call reads nothing.
        """
        if self._scanned is None:
            first, low, high, transparent = None, np.inf, -np.inf, []
            batches = _loader(_ScanItems(self), _index_batches(len(self)), num_workers)
            for items in batches:
                for index, shape, lowest, highest, see_through in items:
                    if first is None:
                        first = (index, shape)
                    elif shape != first[1]:
                        raise ValueError(
                            _size_mismatch(
                                self.paths[first[0]],
                                np.empty(first[1]),
                                self.paths[index],
                                np.empty(shape),
                            )
                        )
                    low, high = min(low, lowest), max(high, highest)
                    if see_through:
                        transparent.append(self.paths[index])
            _warn_transparent(self.root, self.paths, transparent)
            self._scanned = (first[1], float(low), float(high))
        return self._scanned


class _ScanItems(Dataset):
    """What the scan needs of each image: its index, shape, range and transparency."""

    def __init__(self, images: ImageFolderDataset):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        images = self.images
        array, see_through, _ = _read_image(
            images.paths[index], images.grayscale, images.image_size
        )
        return index, array.shape, float(array.min()), float(array.max()), see_through


def _index_batches(n: int, size: int = _SCAN_BATCH) -> list[list[int]]:
    return [list(range(start, min(start + size, n))) for start in range(0, n, size)]


def _loader(dataset, batches: Iterable, num_workers: int) -> Iterator[list]:
    """The items of ``dataset`` for each list of indices in ``batches``, in order.

    Read here with ``num_workers=0``, else by a ``DataLoader`` with that
    many worker processes, which read ahead while the caller computes.
    """
    if not num_workers:
        for index in batches:
            yield [dataset[i] for i in index]
        return
    yield from DataLoader(
        dataset,
        batch_sampler=[list(map(int, index)) for index in batches],
        num_workers=num_workers,
        collate_fn=list,
        # Its own generator for the workers' seeds: a DataLoader without one
        # draws from torch's global generator, which the training steps use.
        generator=torch.Generator().manual_seed(0),
    )


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
        (arrays,) = _loader(self.images, [chosen], 0)
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
        for arrays in _loader(self.images, chosen, self.num_workers):
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


# Documented and pickled under the public module that exports them.
ImageFolderDataset.__module__ = fit_folder.__module__ = "skanomaly.datasets"
