"""Data sets for anomaly detection: ODDS tables, (Fashion-)MNIST, image folders.

- :func:`load_odds` reads the ``.mat`` files of the ODDS library
  (http://odds.cs.stonybrook.edu), the tabular benchmark PyOD uses.
- :func:`load_fashion_mnist` and :func:`load_mnist` go through
  ``torchvision.datasets``: they read a local copy and download only when it
  is missing and the network allows.
- :func:`load_image_folder` reads a folder of images laid out for
  ``torchvision.datasets.ImageFolder`` (``train/0.normal/``,
  ``test/0.normal/``, ``test/1.abnormal/``, or the MVTec AD layout
  ``test/good/``, ``test/crack/``, ...), with the ground-truth masks of
  ``ground_truth/<defect>/<name>_mask.png`` on request;
  :func:`write_image_folder` and :func:`write_mvtec_folder` write arrays in
  those layouts.
- :func:`make_synthetic_defects` draws scratches, blobs and cut-and-paste
  patches on normal images, with their masks, for localisation tests where
  no real defect data is at hand.
- :class:`ImageFolderDataset` reads an image folder lazily, one image per
  item, and :func:`fit_folder` trains a detector on it without holding the
  images in memory.
- :func:`one_class_split` and :func:`one_class_anomaly_split` are the two
  one-class protocols of image anomaly detection; neither lets a test image
  into the training set.

Labels follow the ODDS convention throughout: ``1`` = anomaly, ``0`` = normal.
"""

from __future__ import annotations

from .._limits import MAX_IMAGE_PIXELS as MAX_IMAGE_PIXELS

# The constants (``NORMAL_WORDS``...) stay importable from here, outside
# ``__all__`` as before: the ``X as X`` form re-exports them.
from ._folders import NORMAL_WORDS as NORMAL_WORDS
from ._folders import NOT_NORMAL_WORDS as NOT_NORMAL_WORDS
from ._folders import is_normal_class, load_image_folder
from ._home import DATA_ENV_VAR as DATA_ENV_VAR
from ._home import FASHION_MNIST_CLASSES as FASHION_MNIST_CLASSES
from ._home import get_data_home, load_fashion_mnist, load_mnist, load_odds
from ._splits import one_class_anomaly_split, one_class_split
from ._synthetic import DEFECT_KINDS as DEFECT_KINDS
from ._synthetic import make_synthetic_defects
from ._write import write_image_folder, write_mvtec_folder

__all__ = [
    "ImageFolderDataset",  # imported on first use, see __getattr__
    "fit_folder",
    "get_data_home",
    "is_normal_class",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_odds",
    "make_synthetic_defects",
    "one_class_anomaly_split",
    "one_class_split",
    "write_image_folder",
    "write_mvtec_folder",
]

# Names whose modules import PyTorch, imported on first use (PEP 562), so
# that this package imports without torch: name -> (module, attribute).
_LAZY = {
    "ImageFolderDataset": ("skanomaly.datasets._folder_dataset", "ImageFolderDataset"),
    "fit_folder": ("skanomaly._streaming", "fit_folder"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
