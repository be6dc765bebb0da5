"""Data sets for anomaly detection: ODDS tables, (Fashion-)MNIST, image folders.

- :func:`load_odds` reads the ``.mat`` files of the ODDS library
  (http://odds.cs.stonybrook.edu), the tabular benchmark PyOD uses.
- :func:`load_fashion_mnist` and :func:`load_mnist` go through
  ``torchvision.datasets``: they read a local copy and download only when it
  is missing and the network allows.
- :func:`load_image_folder` reads a folder of images laid out for
  ``torchvision.datasets.ImageFolder`` (``train/0.normal/``,
  ``test/0.normal/``, ``test/1.abnormal/``, or the MVTec AD layout
  ``test/good/``, ``test/crack/``, ...), and :func:`write_image_folder`
  writes arrays in that layout.
- :func:`one_class_split` and :func:`one_class_anomaly_split` are the two
  one-class protocols of image anomaly detection; neither lets a test image
  into the training set.

Labels follow the ODDS convention throughout: ``1`` = anomaly, ``0`` = normal.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = [
    "get_data_home",
    "is_normal_class",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_odds",
    "one_class_anomaly_split",
    "one_class_split",
    "write_image_folder",
]

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
    >>> X, y = load_fashion_mnist("../shared/datasets", train=False)  # doctest: +SKIP
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


# ----------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------
# Words of class-folder names, split at anything but letters ("no_good" is
# "no", "good"; "0.normal" is "normal"). Normal: one of NORMAL_WORDS and
# none of NOT_NORMAL_WORDS; every other folder is anomalous.
NORMAL_WORDS = frozenset({"good", "ok", "normal", "nominal", "pass", "passed", "clean"})
NOT_NORMAL_WORDS = frozenset(
    {"no", "not", "non", "nok", "ng", "bad", "abnormal", "anomaly", "anomalous", "defect"}
    | {"defects", "defective", "fail", "failed", "reject", "rejected", "faulty"}
)
# Images beyond this many pixels are refused before they are decoded (PIL
# would need gigabytes); 8192 x 8192 is the largest square accepted.
MAX_IMAGE_PIXELS = 8192 * 8192


def is_normal_class(folder_name: str) -> bool:
    """The default rule that labels a class folder: normal or anomalous.

    The name is split into words at anything but letters, in any case. A
    folder is normal when one word is ``good``, ``ok``, ``normal``,
    ``nominal``, ``pass``, ``passed`` or ``clean`` and none is a negation or
    an anomaly word (``no``, ``not``, ``non``, ``nok``, ``ng``, ``bad``,
    ``abnormal``, ``anomaly``, ``anomalous``, ``defect(s)``, ``defective``,
    ``fail(ed)``, ``reject(ed)``, ``faulty``); every other folder holds
    anomalies. So ``0.normal``, ``good``, ``OK`` and ``normal_parts`` are
    normal; ``1.abnormal``, ``no_good``, ``not_good``, ``NG``, ``crack`` and
    ``scratch`` are anomalous (the MVTec AD layout works as is).
    :func:`load_image_folder` takes ``normal_class`` / ``anomalous_class``
    to name the folders explicitly instead.

    Examples
    --------
    >>> from skanomaly.datasets import is_normal_class
    >>> [is_normal_class(n) for n in ["0.normal", "good", "OK", "1.abnormal", "NG", "no_good"]]
    [True, True, True, False, False, False]
    """
    words = set(re.findall(r"[a-z]+", folder_name.lower()))
    return bool(words & NORMAL_WORDS) and not words & NOT_NORMAL_WORDS


def _class_labels(classes: list[str], normal_class, anomalous_class, root) -> np.ndarray:
    """1 (anomalous) / 0 (normal) per class folder, by the rule or by the given names."""

    def names(value, what):
        chosen = [value] if isinstance(value, str) else list(value)
        missing = sorted(set(chosen) - set(classes))
        if missing:
            raise ValueError(
                f"{what} {', '.join(map(repr, missing))} is not a class folder of {root} "
                f"(found {', '.join(map(repr, classes))})"
            )
        return set(chosen)

    if normal_class is None and anomalous_class is None:
        return np.array([0 if is_normal_class(c) else 1 for c in classes], dtype=np.int64)
    normal = names(normal_class, "normal class") if normal_class is not None else None
    anomalous = names(anomalous_class, "anomalous class") if anomalous_class is not None else None
    if normal is not None and anomalous is not None:
        both = sorted(normal & anomalous)
        other = sorted(set(classes) - normal - anomalous)
        if both or other:
            what = f"{both} named both normal and anomalous" if both else f"{other} unnamed"
            raise ValueError(
                f"with both normal and anomalous classes given, every class folder of {root} "
                f"must be exactly one of them: {what}"
            )
    if normal is not None:
        return np.array([0 if c in normal else 1 for c in classes], dtype=np.int64)
    return np.array([1 if c in anomalous else 0 for c in classes], dtype=np.int64)


def _open_regular(path: str):
    """A binary file object for ``path``, refused unless it is a regular file.

    Opened non-blocking, so that a FIFO named ``*.png`` cannot hang the reader.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ValueError(f"cannot read image {path}: not a regular file")
    return os.fdopen(fd, "rb")


def _open_image(path: str, *, header_only: bool = False):
    """Open (and unless ``header_only``, decode) one image, naming the file in any error."""
    from PIL import Image, UnidentifiedImageError

    with _open_regular(path) as handle:
        try:
            with Image.open(handle) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(
                        f"image {path} is {width}x{height} pixels, more than skanomaly reads "
                        f"({MAX_IMAGE_PIXELS:,} pixels); downscale it first"
                    )
                if header_only:
                    return image.mode
                image.load()
                return image.copy()
        except Image.DecompressionBombError:  # PIL's own, larger limit, at open
            raise ValueError(
                f"image {path} is larger than skanomaly reads ({MAX_IMAGE_PIXELS:,} pixels); "
                "downscale it first"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read image {path}: {exc}") from None


def _image_mode(path: str) -> str:
    return _open_image(path, header_only=True)


def _image_files(folder: str, seen_files: set, seen_dirs: set) -> list[str]:
    """Image files under ``folder``, sorted: regular files only, each file once.

    Symbolic links are followed, but a folder already visited (a link
    cycle, or a second link to the same folder) is not entered again, and a
    file reached twice is listed once.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    found = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(current)
        if current != folder and (info.st_dev, info.st_ino) in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add((info.st_dev, info.st_ino))
        dirs.sort()
        for name in sorted(files):
            if not has_file_allowed_extension(name, IMG_EXTENSIONS):
                continue
            path = os.path.join(current, name)
            try:
                info = os.stat(path)
            except OSError:  # a dangling link
                continue
            key = (info.st_dev, info.st_ino)
            if stat.S_ISREG(info.st_mode) and key not in seen_files:
                seen_files.add(key)
                found.append(path)
    return found


def _inode(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _list_images(
    root: Path, normal_class=None, anomalous_class=None
) -> tuple[list[str], np.ndarray | None, list[str]]:
    """Image paths, per-image labels (or None) and class folder names under ``root``."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root_info = os.stat(root)
    seen_dirs = {(root_info.st_dev, root_info.st_ino)}
    subfolders = sorted(
        entry.name for entry in os.scandir(root) if entry.is_dir() and entry.name[:1] != "."
    )
    if {"train", "test"} & {name.lower() for name in subfolders}:
        raise ValueError(
            f"{root} holds train/ or test/ folders: pass {root / 'train'} or "
            f"{root / 'test'} instead of the data set's root."
        )
    # Every class folder is its own: a link to it from elsewhere is not entered.
    seen_dirs |= {_inode(root / name) for name in subfolders}
    seen_files: set = set()
    per_class = {
        name: _image_files(str(root / name), seen_files, seen_dirs) for name in subfolders
    }
    classes = [name for name in subfolders if per_class[name]]
    empty = [name for name in subfolders if not per_class[name]]
    looked_for = f"(looked for {', '.join(IMG_EXTENSIONS)})"
    if not classes:
        loose = _image_files_here(root, set())
        if not loose:
            where = f"{root}: class folders {', '.join(empty)} are empty" if empty else root
            raise ValueError(f"no images in {where} {looked_for}")
        if normal_class is not None or anomalous_class is not None:
            raise ValueError(f"{root} has no class folders to name as normal or anomalous")
        return loose, None, []
    if empty:
        raise ValueError(
            f"empty class folder in {root}: {', '.join(empty)} holds no images {looked_for}"
        )
    class_labels = _class_labels(classes, normal_class, anomalous_class, root)
    paths = [path for name in classes for path in per_class[name]]
    labels = np.concatenate(
        [
            np.full(len(per_class[name]), label)
            for name, label in zip(classes, class_labels, strict=True)
        ]
    ).astype(np.int64)
    return paths, labels, classes


def _image_files_here(root: Path, seen_files: set) -> list[str]:
    """The regular image files directly in ``root``."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    found = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not has_file_allowed_extension(entry.name, IMG_EXTENSIONS):
            continue
        try:
            info = os.stat(entry.path)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen_files:
            seen_files.add((info.st_dev, info.st_ino))
            found.append(entry.path)
    return found


def load_image_folder(
    path, image_size=None, grayscale=None, *, normal_class=None, anomalous_class=None
):
    """Load a folder of images as arrays, labels and file paths.

    Two layouts are read:

    - class folders, as for ``torchvision.datasets.ImageFolder``: e.g.
      ``test/0.normal/*.png`` and ``test/1.abnormal/*.png``, MVTec AD's
      ``test/good/``, ``test/crack/``..., or an inspection line's ``OK/`` and
      ``NG/``. Each image is labelled by its folder, with
      :func:`is_normal_class` (``good``, ``ok``, ``normal``... are normal;
      ``no_good``, ``ng``, ``abnormal``, ``crack``... anomalous) unless
      ``normal_class`` or ``anomalous_class`` names the folders;
    - a flat folder of images (no labels).

    Pass ``train/`` or ``test/`` itself, not the data set's root. Only
    regular files are read; symbolic links are followed, but every file and
    folder is read once (a link cycle is not followed round).

    Parameters
    ----------
    path : str or path-like
        The folder.
    image_size : int or (int, int), default=None
        Resize every image to ``(size, size)`` or ``(height, width)``
        (antialiased bilinear). ``None`` keeps the sizes, which must then
        all be equal.
    grayscale : bool, default=None
        ``True``: one channel; ``False``: RGB. ``None``: one channel when
        every image is grey (PIL modes ``1``, ``L``, ``I``, ``F``...), else RGB.
    normal_class : str or list of str, default=None
        The class folder(s) holding normal images; every other folder is
        anomalous. Overrides :func:`is_normal_class`.
    anomalous_class : str or list of str, default=None
        The class folder(s) holding anomalies; every other folder is normal.
        With ``normal_class`` too, every folder must be named by one of them.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``: float32 array ``(n, C, H, W)`` with values in [0, 1]
        (16-bit images are scaled by 65535, 8-bit ones by 255);
        ``target``: int64 array (``1`` anomaly, ``0`` normal), or ``None``
        for a flat folder; ``paths``: list of file paths, in the order of
        the rows; ``classes``: the class folder names (empty for a flat
        folder).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it holds no image, when an image cannot be read or is larger
        than ``MAX_IMAGE_PIXELS`` (8192 x 8192), when sizes differ and
        ``image_size`` is ``None``, or when a named class folder is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import load_image_folder, write_image_folder
    >>> rng = np.random.default_rng(0)
    >>> root = write_image_folder(  # doctest: +SKIP
    ...     "parts", rng.random((5, 16, 16)), rng.random((4, 16, 16)), [0, 0, 1, 1])
    >>> data = load_image_folder("parts/test")  # doctest: +SKIP
    >>> data.images.shape, data.target.tolist()  # doctest: +SKIP
    ((4, 1, 16, 16), [0, 0, 1, 1])
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    paths, target, classes = _list_images(root, normal_class, anomalous_class)

    if grayscale is None:
        grey_modes = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
        grayscale = all(_image_mode(p) in grey_modes for p in paths)
    size = None
    if image_size is not None:
        size = (int(image_size),) * 2 if np.isscalar(image_size) else tuple(image_size)

    images = []
    for file in paths:
        array = _to_array(_open_image(file), grayscale, size, file)
        if images and array.shape != images[0].shape:
            raise ValueError(
                f"images differ in size: {paths[0]} is {_hw(images[0])} but {file} is "
                f"{_hw(array)}; pass image_size to resize them."
            )
        images.append(array)
    return Bunch(images=np.stack(images), target=target, paths=paths, classes=classes)


# PIL modes of one channel with more than 8 bits, and their full scale.
_WIDE_GREY = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "I": 65535}


def _to_array(image, grayscale: bool, size, path: str) -> np.ndarray:
    """One image as a float32 ``(C, H, W)`` array in [0, 1], resized if asked."""
    import torch
    from torchvision.transforms import functional

    if image.mode in _WIDE_GREY or image.mode == "F":
        # Scale by the bit depth: converting to 8 bits would clip 16-bit data.
        values = np.asarray(image, dtype=np.float64)
        full = _WIDE_GREY.get(image.mode, 1.0)
        if values.size and (values.min() < 0 or values.max() > full):
            raise ValueError(
                f"cannot read image {path}: mode {image.mode} values outside 0..{full:g}"
            )
        tensor = torch.from_numpy((values / full).astype(np.float32))[None]
        if not grayscale:
            tensor = tensor.expand(3, -1, -1)
        if size is not None:
            tensor = functional.resize(tensor, list(size), antialias=True)
        return tensor.clamp(0, 1).numpy()
    image = image.convert("L" if grayscale else "RGB")
    if size is not None:
        image = functional.resize(image, list(size), antialias=True)
    return functional.to_tensor(image).numpy()


def _hw(tensor) -> str:
    return "x".join(str(s) for s in tensor.shape[-2:])


def write_image_folder(path, X_train, X_test=None, y_test=None):
    """Write arrays as PNG files in the layout :func:`load_image_folder` reads.

    ``train/0.normal/`` gets ``X_train``; ``test/0.normal/`` and
    ``test/1.abnormal/`` get the rows of ``X_test`` with ``y_test`` 0 and 1.
    Values are mapped linearly to 0-255 from the joint range of all the
    arrays (``uint8`` arrays are written as they are).

    Parameters
    ----------
    path : str or path-like
        Root folder; created if needed. Existing files are overwritten.
    X_train : array-like of shape (n, H, W) or (n, C, H, W)
        Normal training images, ``C`` in {1, 3}.
    X_test : array-like of shape (m, H, W) or (m, C, H, W), default=None
        Test images.
    y_test : array-like of shape (m,), default=None
        ``1`` anomaly, ``0`` normal; needed with ``X_test``.

    Returns
    -------
    root : pathlib.Path

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanomaly.datasets import load_image_folder, write_image_folder
    >>> rng = np.random.default_rng(0)
    >>> root = write_image_folder(tempfile.mkdtemp(), rng.random((5, 16, 16)),
    ...                           rng.random((4, 16, 16)), [0, 0, 1, 1])
    >>> sorted(p.name for p in (root / "test").iterdir())
    ['0.normal', '1.abnormal']
    >>> load_image_folder(root / "test").target.tolist()
    [0, 0, 1, 1]
    """
    from PIL import Image

    arrays = [np.asarray(X_train)]
    if X_test is not None:
        if y_test is None or len(y_test) != len(X_test):
            raise ValueError("y_test must give one 0/1 label per row of X_test")
        arrays.append(np.asarray(X_test))
        labels = np.asarray(y_test)
        other = sorted(set(np.unique(labels).tolist()) - {0, 1})
        if labels.ndim != 1 or other:
            raise ValueError(
                f"y_test must hold 0 (normal) and 1 (anomaly) only, got {other[:5]}: "
                "every image is written, so none may be left out"
            )
    for name, array in zip(("X_train", "X_test")[: len(arrays)], arrays, strict=True):
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds NaN or infinite values, which no image can show")
    if all(a.dtype == np.uint8 for a in arrays):
        low, high = 0.0, 255.0
    else:
        low = min(float(a.min()) for a in arrays)
        high = max(float(a.max()) for a in arrays)
        high = high if high > low else low + 1.0

    def to_pil(image):
        image = np.asarray(image, dtype=np.float64)
        if image.ndim == 3:  # (C, H, W) -> (H, W, C), or (H, W) for one channel
            image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
            raise ValueError(f"images must be (H, W), (1, H, W) or (3, H, W), got {image.shape}")
        return Image.fromarray(np.uint8(np.round((image - low) / (high - low) * 255)))

    root = Path(path).expanduser()
    groups = [("train/0.normal", arrays[0])]
    if X_test is not None:
        y_test = np.asarray(y_test)
        groups.append(("test/0.normal", arrays[1][y_test == 0]))
        groups.append(("test/1.abnormal", arrays[1][y_test == 1]))
    for folder, images in groups:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            to_pil(image).save(root / folder / f"{i:05d}.png")
    return root


# ----------------------------------------------------------------------
# One-class protocols
# ----------------------------------------------------------------------
def one_class_split(X_train, y_train, X_test, y_test, normal_class):
    """One class normal, all others anomalous (SPEC §4 image protocol).

    Train on the training images of ``normal_class`` only; test on the whole
    test split, labelled ``0`` for ``normal_class`` and ``1`` otherwise. The
    training and test sets come from different splits, so no test image is
    ever trained on.

    Parameters
    ----------
    X_train, y_train : array-like
        Training split with class labels.
    X_test, y_test : array-like
        Test split with class labels.
    normal_class : int or str
        The class treated as normal.

    Returns
    -------
    X_fit : ndarray
        The training rows of ``normal_class``.
    X_eval : ndarray
        All test rows.
    y_eval : ndarray of int64
        ``1`` anomaly, ``0`` normal, for the rows of ``X_eval``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import one_class_split
    >>> X_fit, X_eval, y_eval = one_class_split(
    ...     np.arange(6), np.array([0, 1, 2, 0, 1, 2]), np.arange(3), np.array([0, 1, 2]), 1)
    >>> X_fit.tolist(), y_eval.tolist()
    ([1, 4], [1, 0, 1])
    """
    X_train, y_train, X_test, y_test = _check_split_args(X_train, y_train, X_test, y_test)
    _check_class(normal_class, y_train)
    return X_train[y_train == normal_class], X_test, (y_test != normal_class).astype(np.int64)


def one_class_anomaly_split(X_train, y_train, X_test, y_test, anomaly_class):
    """One class anomalous, all others normal (the GANomaly paper's protocol).

    Train on the training images of every class but ``anomaly_class``; test
    on the whole test split, labelled ``1`` for ``anomaly_class``. Unlike
    the GANomaly reference code, the training images of ``anomaly_class``
    are not moved into the test set: it stays the test split, unchanged.

    Parameters
    ----------
    X_train, y_train : array-like
        Training split with class labels.
    X_test, y_test : array-like
        Test split with class labels.
    anomaly_class : int or str
        The class treated as anomalous.

    Returns
    -------
    X_fit : ndarray
        The training rows of all other classes.
    X_eval : ndarray
        All test rows.
    y_eval : ndarray of int64
        ``1`` anomaly, ``0`` normal, for the rows of ``X_eval``.

    Examples
    --------
    >>> import numpy as np
    >>> from skanomaly.datasets import one_class_anomaly_split
    >>> X_fit, X_eval, y_eval = one_class_anomaly_split(
    ...     np.arange(6), np.array([0, 1, 2, 0, 1, 2]), np.arange(3), np.array([0, 1, 2]), 1)
    >>> X_fit.tolist(), y_eval.tolist()
    ([0, 2, 3, 5], [0, 1, 0])
    """
    X_train, y_train, X_test, y_test = _check_split_args(X_train, y_train, X_test, y_test)
    _check_class(anomaly_class, y_train)
    return X_train[y_train != anomaly_class], X_test, (y_test == anomaly_class).astype(np.int64)


def _check_split_args(X_train, y_train, X_test, y_test):
    arrays = [np.asarray(a) for a in (X_train, y_train, X_test, y_test)]
    for X, y, name in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if y.ndim != 1 or len(X) != len(y):
            raise ValueError(
                f"y_{name} must be 1-D with one label per row of X_{name}: "
                f"got {len(X)} rows and labels of shape {y.shape}"
            )
    return arrays


def _check_class(label, y_train):
    if not np.any(y_train == label):
        raise ValueError(
            f"class {label!r} is not among the training labels {np.unique(y_train).tolist()}"
        )
