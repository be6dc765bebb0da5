"""An image folder read lazily: a PyTorch dataset that decodes each image when indexed.

:class:`ImageFolderDataset` is a ``torch.utils.data.Dataset`` over the files
of a folder, read by the rules of
:func:`skanomaly.datasets.load_image_folder` (the same listing, labels,
skipped files, modes, sizes and errors), one image per item.
:func:`skanomaly.datasets.fit_folder` trains a detector on it. Exported by
:mod:`skanomaly.datasets`, which imports this module (and PyTorch) on
first use.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from .._runtime import read_ahead
from ._folders import _choose_grayscale, _folder_files, _warn_transparent
from ._images import _read_image, _size_mismatch, _size_param

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
    root : pathlib.Path
        The folder, ``~`` expanded.
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
    image_size : (int, int) or None
        The size images are resized to, ``(height, width)``.

    See Also
    --------
    fit_folder : train a detector on the dataset.
    load_image_folder : read the whole folder into one array.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanomaly.datasets import ImageFolderDataset, write_image_folder
    >>> images = np.random.default_rng(0).random((5, 16, 16))
    >>> dataset = ImageFolderDataset(write_image_folder(tempfile.mkdtemp(), images) / "train")
    >>> len(dataset), dataset[0].shape, dataset.target.tolist()
    (5, (1, 16, 16), [0, 0, 0, 0, 0])
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
        """Read every image once: its shape, and the range of the pixel values.

        Checks that the images have one size (as ``load_image_folder``
        does, with its error), and warns once of transparent images. The
        result is kept: a second call reads nothing.

        Parameters
        ----------
        num_workers : int, default=0
            Worker processes that read the images (0: read here).

        Returns
        -------
        shape : (int, int, int)
            ``(C, H, W)`` of every image.
        low, high : float
            The lowest and the highest pixel value of all the images.

        Raises
        ------
        ValueError
            When the images differ in size, or one cannot be read.
        """
        if self._scanned is None:
            first, low, high, transparent = None, np.inf, -np.inf, []
            batches = read_ahead(_ScanItems(self), _index_batches(len(self)), num_workers)
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


# Documented and pickled under the public module that exports it.
ImageFolderDataset.__module__ = "skanomaly.datasets"
