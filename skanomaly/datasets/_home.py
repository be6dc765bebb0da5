"""Where data sets live, and the loaders of the tabular and digit benchmarks.

- :func:`get_data_home`: the folder skanomaly looks in.
- :func:`load_odds` reads the ``.mat`` files of the ODDS library
  (http://odds.cs.stonybrook.edu), the tabular benchmark PyOD uses.
- :func:`load_fashion_mnist` and :func:`load_mnist` go through
  ``torchvision.datasets``: they read a local copy and download only when it
  is missing and the network allows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA_ENV_VAR = "SKANOMALY_DATA"

# Fashion-MNIST class names, in label order (Xiao, Rasul & Vollgraf 2017).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder where skanomaly looks for data sets.

    In order: the ``data_home`` argument, the ``SKANOMALY_DATA`` environment
    variable, ``~/skanomaly_data``. ``~`` is expanded; nothing is created.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder; overrides the environment variable.

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> from skanomaly.datasets import get_data_home
    >>> str(get_data_home("/data/anomaly"))
    '/data/anomaly'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_ENV_VAR) or Path("~") / "skanomaly_data"
    return Path(data_home).expanduser()


# ----------------------------------------------------------------------
# ODDS
# ----------------------------------------------------------------------
def load_odds(name_or_path: str | os.PathLike, data_home: str | os.PathLike | None = None):
    """Load an ODDS ``.mat`` data set as ``(X, y)``.

    Parameters
    ----------
    name_or_path : str or path-like
        A data set name such as ``"glass"``, looked up as
        ``<data_home>/odds/<name>.mat`` and then ``<data_home>/<name>.mat``;
        or the path of a ``.mat`` file.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
    y : ndarray of shape (n_samples,), dtype int64
        ``1`` for outliers, ``0`` for inliers.

    Raises
    ------
    FileNotFoundError
        When no file is found; the message lists the places searched.
    ValueError
        When the file is not a MATLAB file with ``X`` and ``y`` of matching
        lengths.

    Examples
    --------
    >>> from skanomaly.datasets import load_odds
    >>> X, y = load_odds("glass")  # doctest: +SKIP
    >>> X.shape, y.sum()  # doctest: +SKIP
    ((214, 9), 9)
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    given = Path(name_or_path).expanduser()
    if given.suffix == ".mat" or given.is_file() or len(given.parts) > 1:
        candidates = [given]
    else:
        home = get_data_home(data_home)
        candidates = [home / "odds" / f"{given}.mat", home / f"{given}.mat"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        where = ", ".join(str(c) for c in candidates)
        raise FileNotFoundError(
            f"ODDS data set {str(name_or_path)!r} not found (looked for {where}); download "
            f"the .mat file from http://odds.cs.stonybrook.edu and put it there, or set "
            f"data_home / the {DATA_ENV_VAR} environment variable."
        )
    try:
        mat = loadmat(path)
    except (MatReadError, ValueError, NotImplementedError, OSError) as exc:
        # NotImplementedError: MATLAB v7.3 (HDF5) files, which scipy does not read.
        raise ValueError(f"{path} is not a readable MATLAB .mat file: {exc}") from exc
    missing = [key for key in ("X", "y") if key not in mat]
    if missing:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(
            f"{path} has no {' or '.join(missing)} variable (found {found}); "
            "ODDS files hold the data in X and the labels in y."
        )
    X = np.asarray(mat["X"], dtype=np.float64)
    y = np.asarray(mat["y"]).ravel().astype(np.int64)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(
            f"{path}: X has shape {X.shape} and y has {len(y)} labels; expected a 2-D X "
            "with one label per row."
        )
    return X, y


# ----------------------------------------------------------------------
# MNIST / Fashion-MNIST
# ----------------------------------------------------------------------
def _load_torchvision_mnist(dataset_cls, root, train: bool, download: bool):
    root = get_data_home(root)
    folder = root / dataset_cls.__name__ / "raw"
    try:
        dataset = dataset_cls(root, train=train, download=False)
    except RuntimeError as not_found:
        if not download:
            raise FileNotFoundError(
                f"{dataset_cls.__name__} not found under {root}: put the four files "
                f"{', '.join(_MNIST_FILES)} (optionally .gz) in {folder}, or pass "
                "download=True where the network allows."
            ) from not_found
        try:
            dataset = dataset_cls(root, train=train, download=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise FileNotFoundError(
                f"{dataset_cls.__name__} is not under {root} and could not be downloaded "
                f"({exc}); copy the four files {', '.join(_MNIST_FILES)} "
                f"(optionally .gz) to {folder}."
            ) from exc
    return dataset.data.numpy(), dataset.targets.numpy().astype(np.int64)


# The files torchvision's MNIST-like data sets read from <root>/<name>/raw/.
_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def load_fashion_mnist(root=None, *, train: bool = True, download: bool = True):
    """Fashion-MNIST through ``torchvision.datasets.FashionMNIST``.

    Parameters
    ----------
    root : str or path-like, default=None
        Folder holding ``FashionMNIST/raw/``; ``None`` = :func:`get_data_home`.
    train : bool, default=True
        The 60,000 training images, or the 10,000 test images.
    download : bool, default=True
        Download when the files are not found. A local copy is always tried
        first, so this needs no network where the files exist.

    Returns
    -------
    images : ndarray of shape (n, 28, 28), dtype uint8
    labels : ndarray of shape (n,), dtype int64
        Class indices; names in ``FASHION_MNIST_CLASSES`` (7 = "Sneaker").

    Raises
    ------
    FileNotFoundError
        When the files are absent and cannot be downloaded; the message says
        where to put them.

    Examples
    --------
    >>> from skanomaly.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(train=False)  # doctest: +SKIP
    >>> X.shape, X.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    from torchvision.datasets import FashionMNIST

    return _load_torchvision_mnist(FashionMNIST, root, train, download)


def load_mnist(root=None, *, train: bool = True, download: bool = True):
    """MNIST through ``torchvision.datasets.MNIST``.

    Same parameters and return values as :func:`load_fashion_mnist`, with the
    files in ``<root>/MNIST/raw/`` and labels the digits 0-9.

    Examples
    --------
    >>> from skanomaly.datasets import load_mnist
    >>> X, y = load_mnist("~/data", download=False)  # doctest: +SKIP
    """
    from torchvision.datasets import MNIST

    return _load_torchvision_mnist(MNIST, root, train, download)
