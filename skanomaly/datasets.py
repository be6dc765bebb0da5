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
- :func:`one_class_split` and :func:`one_class_anomaly_split` are the two
  one-class protocols of image anomaly detection; neither lets a test image
  into the training set.

Labels follow the ODDS convention throughout: ``1`` = anomaly, ``0`` = normal.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .exceptions import ImageFolderWarning

__all__ = [
    "ImageFolderDataset",  # noqa: F822 (imported on first use, see __getattr__)
    "fit_folder",  # noqa: F822
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

# Defined with PyTorch in ``skanomaly._streaming``, imported on first use
# (PEP 562), so that this module imports without torch.
_LAZY = {"ImageFolderDataset", "fit_folder"}


def __getattr__(name):
    if name in _LAZY:
        from . import _streaming

        value = getattr(_streaming, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
# PIL modes of grey images (one colour channel, with or without alpha).
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# PIL modes with an alpha channel (palette and RGB images may carry a
# transparent colour in ``info["transparency"]`` instead).
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
# Why a file was not read, as the summary warning says it.
_SKIPPED = {
    "hidden": "hidden",
    "type": "other file types",
    "special": "not regular files",
    "broken": "broken links",
    "again": "links to files already read",
    "loose": "beside the class folders",
}
# Skipped files named in the summary warning (all are in ``skipped``).
_NAMED_SKIPPED = 10


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
    """Open (and unless ``header_only``, decode) one image, naming the file in any error.

    A decoded image is turned upright by its EXIF orientation (phone photos
    store the sensor's rows and a tag that says how to rotate them).
    ``header_only`` returns whether the image is grey (:func:`_is_grey`).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

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
                    return _is_grey(image)
                image.load()
                return ImageOps.exif_transpose(image)  # a copy: the file is closed below
        except Image.DecompressionBombError:  # PIL's own, larger limit, at open
            raise ValueError(
                f"image {path} is larger than skanomaly reads ({MAX_IMAGE_PIXELS:,} pixels); "
                "downscale it first"
            ) from None
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"cannot read image {path}: {exc}") from None


def _is_grey(image) -> bool:
    """Whether an image has no colour: a grey mode, or a palette of greys only."""
    if image.mode in _GREY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette()  # [r, g, b, r, g, b, ...]
        return palette is not None and palette[0::3] == palette[1::3] == palette[2::3]
    return False


def _is_hidden(name: str) -> bool:
    """Dot entries (``.cache/``, ``.ipynb_checkpoints/``, macOS ``._x.png``) and ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def _skip_reason(path: str, name: str, seen_files: set) -> str | None:
    """Why the file ``path`` is not read (a key of ``_SKIPPED``), or None to read it."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    if _is_hidden(name):
        return "hidden"
    if not has_file_allowed_extension(name, IMG_EXTENSIONS):
        return "type"
    try:
        info = os.stat(path)
    except OSError:
        return "broken"
    if not stat.S_ISREG(info.st_mode):
        return "special"
    if (info.st_dev, info.st_ino) in seen_files:
        return "again"
    seen_files.add((info.st_dev, info.st_ino))
    return None


def _image_files(folder: str, seen_files: set, seen_dirs: set, skipped: dict) -> list[str]:
    """Image files under ``folder``, sorted: regular files only, each file once.

    Symbolic links are followed, but a folder already visited (a link
    cycle, or a second link to the same folder) is not entered again, and a
    file reached twice is listed once. Hidden entries are not entered or
    read. Every file not read goes into ``skipped`` (path -> reason).
    """
    found = []
    for current, dirs, files in os.walk(folder, followlinks=True):
        info = os.stat(current)
        if current != folder and (info.st_dev, info.st_ino) in seen_dirs:
            dirs[:] = []
            continue
        seen_dirs.add((info.st_dev, info.st_ino))
        skipped.update(
            {os.path.join(current, d) + os.sep: "hidden" for d in dirs if _is_hidden(d)}
        )
        dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
        for name in sorted(files):
            path = os.path.join(current, name)
            reason = _skip_reason(path, name, seen_files)
            if reason is None:
                found.append(path)
            else:
                skipped[path] = reason
    return found


def _inode(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


def _list_images(
    root: Path, normal_class=None, anomalous_class=None
) -> tuple[list[str], np.ndarray | None, list[str], dict[str, str]]:
    """Image paths, per-image labels (or None), class folder names, and the files skipped."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root_info = os.stat(root)
    seen_dirs = {(root_info.st_dev, root_info.st_ino)}
    entries = sorted(os.scandir(root), key=lambda entry: entry.name)
    skipped = {e.path + os.sep: "hidden" for e in entries if e.is_dir() and _is_hidden(e.name)}
    subfolders = [e.name for e in entries if e.is_dir() and not _is_hidden(e.name)]
    if {"train", "test"} & {name.lower() for name in subfolders}:
        raise ValueError(
            f"{root} holds train/ or test/ folders: pass {root / 'train'} or "
            f"{root / 'test'} instead of the data set's root."
        )
    # Every class folder is its own: a link to it from elsewhere is not entered.
    seen_dirs |= {_inode(root / name) for name in subfolders}
    seen_files: set = set()
    per_class = {
        name: _image_files(str(root / name), seen_files, seen_dirs, skipped) for name in subfolders
    }
    classes = [name for name in subfolders if per_class[name]]
    empty = [name for name in subfolders if not per_class[name]]
    looked_for = f"(looked for {', '.join(IMG_EXTENSIONS)})"
    loose, here = [], set()
    for entry in entries:
        if not entry.is_dir():
            reason = _skip_reason(entry.path, entry.name, here)
            if reason is None:
                loose.append(entry.path)
            else:
                skipped[entry.path] = reason
    if not classes:
        if not loose:
            where = f"{root}: class folders {', '.join(empty)} are empty" if empty else root
            raise ValueError(f"no images in {where} {looked_for}")
        if normal_class is not None or anomalous_class is not None:
            raise ValueError(f"{root} has no class folders to name as normal or anomalous")
        return loose, None, [], skipped
    if empty:
        raise ValueError(
            f"empty class folder in {root}: {', '.join(empty)} holds no images {looked_for}"
        )
    skipped.update(dict.fromkeys(loose, "loose"))
    class_labels = _class_labels(classes, normal_class, anomalous_class, root)
    paths = [path for name in classes for path in per_class[name]]
    labels = np.concatenate(
        [
            np.full(len(per_class[name]), label)
            for name, label in zip(classes, class_labels, strict=True)
        ]
    ).astype(np.int64)
    return paths, labels, classes, skipped


def _named(root: Path, paths: list[str]) -> str:
    """The first few of ``paths``, relative to ``root``, and how many more there are."""
    names = [os.path.relpath(p, root) + (os.sep if p.endswith(os.sep) else "") for p in paths]
    more = len(names) - _NAMED_SKIPPED
    return ", ".join(names[:_NAMED_SKIPPED]) + (f" and {more:,} more" if more > 0 else "")


def _warn_skipped(root: Path, skipped: dict[str, str], reader: str) -> None:
    """One warning line: how many entries were skipped, why, and which."""
    counts: dict[str, int] = {}
    for reason in skipped.values():
        counts[reason] = counts.get(reason, 0) + 1
    types = sorted(
        {
            os.path.splitext(p)[1].lower() or "no extension"
            for p, r in skipped.items()
            if r == "type"
        }
    )
    why = "; ".join(
        _SKIPPED[reason] + (f" ({', '.join(types)})" if reason == "type" else "") + f": {n:,}"
        for reason, n in counts.items()
    )
    n = len(skipped)
    warnings.warn(
        f"{reader} skipped {n:,} entr{'y' if n == 1 else 'ies'} in {root} ({why}): "
        f"{_named(root, list(skipped))} (all in the result's 'skipped')",
        ImageFolderWarning,
        stacklevel=4,
    )


def load_image_folder(
    path,
    image_size=None,
    grayscale=None,
    *,
    normal_class=None,
    anomalous_class=None,
    return_masks=False,
    mask_dir=None,
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
    folder is read once (a link cycle is not followed round). Hidden
    entries (names starting with ``.``, such as ``.ipynb_checkpoints/`` or
    macOS ``._x.png`` files, and ``__MACOSX/``) are not read. Every file
    that is not read (hidden, another type such as ``.gif``, not a regular
    file, a second link to a file, an image beside the class folders) is
    counted and named in one :class:`~skanomaly.exceptions.ImageFolderWarning`
    and listed in the result's ``skipped``.

    Images are turned upright by their EXIF orientation. Transparent
    pixels are composited onto black: a pixel's colour is weighted by its
    opacity, so a fully transparent one reads as 0 (with a warning naming
    the images that have any).

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
        every image is grey (PIL modes ``1``, ``L``, ``LA``, ``I``, ``F``...,
        or a palette of greys only), else RGB, with a warning naming the
        colour images when some images are grey and some are not.
    normal_class : str or list of str, default=None
        The class folder(s) holding normal images; every other folder is
        anomalous. Overrides :func:`is_normal_class`.
    anomalous_class : str or list of str, default=None
        The class folder(s) holding anomalies; every other folder is normal.
        With ``normal_class`` too, every folder must be named by one of them.
    return_masks : bool, default=False
        Also read the ground-truth masks of the MVTec AD layout: the mask of
        ``test/<defect>/<name>.<ext>`` is
        ``ground_truth/<defect>/<name>_mask.png`` (or ``<name>.png``), any
        non-zero pixel a defect. Masks are resized with their images, by
        nearest neighbour; normal images get all-zero masks.
    mask_dir : str or path-like, default=None
        Where the masks are; ``None`` = the ``ground_truth`` folder beside
        ``path`` (``path/../ground_truth``).

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``: float32 array ``(n, C, H, W)`` with values in [0, 1]
        (16-bit images are scaled by 65535, 8-bit ones by 255);
        ``target``: int64 array (``1`` anomaly, ``0`` normal), or ``None``
        for a flat folder; ``paths``: list of file paths, in the order of
        the rows; ``classes``: the class folder names (empty for a flat
        folder). With ``return_masks=True`` also ``masks``: a bool array
        ``(n, H, W)`` aligned with ``images``, or ``None`` when there is no
        mask folder (or no class folders). ``skipped``: a dict of the
        entries not read (path, with a trailing separator for a folder)
        to the reason (``"hidden"``, ``"type"``, ``"special"``,
        ``"broken"``, ``"again"``, ``"loose"``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When it holds no image, when an image cannot be read or is larger
        than ``MAX_IMAGE_PIXELS`` (8192 x 8192), when sizes differ and
        ``image_size`` is ``None``, or when a named class folder is missing;
        with ``return_masks``, when an anomalous image has no mask or a
        mask's size differs from its image's.

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
    root, paths, target, classes, skipped = _folder_files(path, normal_class, anomalous_class)
    grayscale = _choose_grayscale(root, paths, grayscale)
    size = _size_param(image_size)

    images, sizes, transparent = [], [], []
    for file in paths:
        array, see_through, upright_size = _read_image(file, grayscale, size)
        if see_through:
            transparent.append(file)
        sizes.append(upright_size)
        if images and array.shape != images[0].shape:
            raise ValueError(_size_mismatch(paths[0], images[0], file, array))
        images.append(array)
    _warn_transparent(root, paths, transparent)
    array = np.stack(images)
    data = Bunch(images=array, target=target, paths=paths, classes=classes, skipped=skipped)
    if return_masks:
        data.masks = _read_masks(
            root, paths, target, sizes, array.shape[-2:], image_size, mask_dir
        )
    return data


# Pieces of ``load_image_folder``, shared with the streamed reading of
# ``skanomaly.datasets.ImageFolderDataset``. Their warnings name the caller
# of the public function (``stacklevel`` counts from here).
def _folder_files(path, normal_class, anomalous_class, reader="load_image_folder"):
    """``(root, paths, target, classes, skipped)`` of an image folder; warns of skipped files."""
    root = Path(path).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a folder")
    paths, target, classes, skipped = _list_images(root, normal_class, anomalous_class)
    if skipped:
        _warn_skipped(root, skipped, reader)
    return root, paths, target, classes, skipped


def _choose_grayscale(root: Path, paths: list[str], grayscale) -> bool:
    """``grayscale`` resolved: with None, grey when every image is (headers only)."""
    if grayscale is not None:
        return grayscale
    grey = [_open_image(p, header_only=True) for p in paths]
    if not all(grey) and any(grey):
        colour = [p for p, is_grey in zip(paths, grey, strict=True) if not is_grey]
        warnings.warn(
            f"{len(colour):,} of the {len(paths):,} images in {root} are in colour, the "
            f"others grey: all are read as RGB; pass grayscale=True (--color grey) to "
            f"read them as grey. Colour: {_named(root, colour)}",
            ImageFolderWarning,
            stacklevel=3,
        )
    return all(grey)


def _size_param(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    return (int(image_size),) * 2 if np.isscalar(image_size) else tuple(image_size)


def _read_image(file: str, grayscale: bool, size) -> tuple[np.ndarray, bool, tuple[int, int]]:
    """One image as read: the ``(C, H, W)`` array, whether it had transparent pixels, its size."""
    image, see_through = _without_alpha(_open_image(file))
    return _to_array(image, grayscale, size, file), see_through, image.size


def _size_mismatch(first: str, first_array, file: str, array) -> str:
    return (
        f"images differ in size: {first} is {_hw(first_array)} but {file} is "
        f"{_hw(array)}; pass image_size to resize them."
    )


def _warn_transparent(root: Path, paths: list[str], transparent: list[str]) -> None:
    if transparent:
        warnings.warn(
            f"{len(transparent):,} of the {len(paths):,} images in {root} have transparent "
            f"pixels: they are composited onto black (a transparent pixel reads as 0): "
            f"{_named(root, transparent)}",
            ImageFolderWarning,
            stacklevel=3,
        )


def _without_alpha(image):
    """``image`` composited onto black if it has transparent pixels, and whether it had.

    One rule for every image with an alpha channel or a transparent colour:
    a pixel's colour is weighted by its opacity, so fully transparent
    pixels read as 0 whatever colour they hide. Opaque images are unchanged.
    """
    from PIL import Image

    if image.mode in _WIDE_GREY or image.mode == "F":
        return image, False  # no alpha channel in these modes
    if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
        return image, False
    rgba = image.convert("RGBA")
    if rgba.getchannel("A").getextrema()[0] == 255:
        return image, False
    black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, rgba).convert("RGB"), True


def _mask_path(root: Path, image_path: str, mask_root: Path) -> Path:
    """The MVTec AD mask file of an image: ``<defect>/<name>_mask.png`` (or ``<name>.png``)."""
    relative = Path(image_path).relative_to(root)
    folder = mask_root / relative.parent
    for candidate in (folder / f"{relative.stem}_mask.png", folder / f"{relative.stem}.png"):
        if candidate.is_file():
            return candidate
    raise ValueError(
        f"no ground-truth mask for the anomalous image {image_path}: expected "
        f"{folder / (relative.stem + '_mask.png')}"
    )


def _read_masks(
    root: Path, paths, target, sizes, shape, image_size, mask_dir
) -> np.ndarray | None:
    """Masks aligned with the images read from ``root``; all-zero for normal images.

    ``sizes`` are the images' (upright) sizes, ``shape`` their size as read.
    """
    from PIL import Image

    mask_root = root.parent / "ground_truth" if mask_dir is None else Path(mask_dir).expanduser()
    if mask_dir is not None and not mask_root.is_dir():
        raise FileNotFoundError(f"mask folder {mask_root} does not exist")
    if target is None or not mask_root.is_dir():
        return None
    masks = np.zeros((len(paths), *shape), dtype=bool)
    for i in np.flatnonzero(target):
        file = _mask_path(root, paths[i], mask_root)
        mask = _open_image(str(file)).convert("L")
        size = sizes[i]
        if mask.size != size:
            raise ValueError(
                f"mask {file} is {mask.size[1]}x{mask.size[0]} but its image {paths[i]} is "
                f"{size[1]}x{size[0]}"
            )
        if image_size is not None:
            # Nearest neighbour: a resized mask stays binary and on its pixels.
            mask = mask.resize((shape[1], shape[0]), Image.Resampling.NEAREST)
        masks[i] = np.asarray(mask) > 0
    return masks


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
    to_pil = _png_converter(arrays, ("X_train", "X_test"))

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


def _png_converter(arrays, names):
    """A function turning one image of ``arrays`` into an 8-bit PIL image.

    Values are mapped linearly to 0-255 from the joint range of ``arrays``;
    ``uint8`` arrays are kept as they are. ``names`` name the arrays in errors.
    """
    from PIL import Image

    for name, array in zip(names, arrays, strict=False):
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

    return to_pil


def write_mvtec_folder(path, X_train, X_test, defect_types, masks):
    """Write images and defect masks in the MVTec AD layout.

    ``train/good/`` gets ``X_train``; each row of ``X_test`` goes to
    ``test/<defect type>/``, and for every row not of type ``"good"`` its
    mask goes to ``ground_truth/<defect type>/<name>_mask.png`` (0 and 255).
    Files are numbered ``000.png``, ``001.png``... within each folder.
    :func:`load_image_folder` reads the result back with
    ``return_masks=True``. Image values are mapped to 0-255 as in
    :func:`write_image_folder`.

    Parameters
    ----------
    path : str or path-like
        Root folder; created if needed. Existing files are overwritten.
    X_train : array-like of shape (n, H, W) or (n, C, H, W)
        Normal training images, ``C`` in {1, 3}.
    X_test : array-like of shape (m, H, W) or (m, C, H, W)
        Test images.
    defect_types : array-like of str, shape (m,)
        ``"good"`` for a normal image, else the defect's name (a folder
        name, which :func:`is_normal_class` must read as anomalous).
    masks : array-like of shape (m, H, W)
        Non-zero on the defect pixels; all-zero for ``"good"`` rows.

    Returns
    -------
    root : pathlib.Path

    See Also
    --------
    make_synthetic_defects : test images and masks to write.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skanomaly.datasets import load_image_folder, write_mvtec_folder
    >>> X = np.zeros((3, 8, 8)); masks = np.zeros((3, 8, 8), dtype=bool)
    >>> X[2, 2:4, 2:4] = masks[2, 2:4, 2:4] = 1
    >>> root = write_mvtec_folder(tempfile.mkdtemp(), X[:2], X, ["good", "good", "blob"], masks)
    >>> files = sorted(str(p.relative_to(root)) for p in root.rglob("*.png"))
    >>> files  # doctest: +NORMALIZE_WHITESPACE
    ['ground_truth/blob/000_mask.png', 'test/blob/000.png', 'test/good/000.png',
     'test/good/001.png', 'train/good/000.png', 'train/good/001.png']
    >>> data = load_image_folder(root / "test", return_masks=True)
    >>> data.target.tolist(), data.masks.sum(axis=(1, 2)).tolist()
    ([1, 0, 0], [4, 0, 0])
    """
    from PIL import Image

    X_train, X_test = np.asarray(X_train), np.asarray(X_test)
    defect_types = np.asarray(defect_types, dtype=str)
    masks = np.asarray(masks)
    if not len(X_test) == len(defect_types) == len(masks):
        raise ValueError(
            f"X_test, defect_types and masks must have one entry per test image, got "
            f"{len(X_test)}, {len(defect_types)} and {len(masks)}"
        )
    if masks.ndim != 3 or masks.shape[1:] != X_test.shape[-2:]:
        raise ValueError(
            f"masks must be (m, H, W) with the images' H and W, got {masks.shape} for "
            f"images of shape {X_test.shape}"
        )
    for name in np.unique(defect_types):
        if name != "good" and (is_normal_class(name) or not name or Path(name).name != name):
            raise ValueError(
                f"defect type {name!r} cannot be a defect folder: use 'good' for normal "
                "images and, for defects, plain names without 'normal' or 'good'"
            )
        if name == "good" and masks[defect_types == name].any():
            raise ValueError("rows of defect type 'good' must have all-zero masks")
    to_pil = _png_converter([X_train, X_test], ("X_train", "X_test"))

    root = Path(path).expanduser()
    groups = [("train/good", X_train, None)]
    groups += [
        (f"test/{name}", X_test[defect_types == name], name) for name in np.unique(defect_types)
    ]
    for folder, images, name in groups:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            to_pil(image).save(root / folder / f"{i:03d}.png")
        if name not in (None, "good"):
            (root / "ground_truth" / name).mkdir(parents=True, exist_ok=True)
            for i, mask in enumerate(masks[defect_types == name]):
                mask_image = Image.fromarray(np.uint8(mask != 0) * 255)
                mask_image.save(root / "ground_truth" / name / f"{i:03d}_mask.png")
    return root


# Defect kinds drawn by make_synthetic_defects, in its documented order.
DEFECT_KINDS = ("scratch", "blob", "patch")


def make_synthetic_defects(images, *, kinds=DEFECT_KINDS, random_state=None):
    """Draw one synthetic defect on each image, and return its mask.

    A stand-in for real defect data (e.g. MVTec AD, which is not always at
    hand) to test localisation: each image gets one defect of a kind drawn
    at random from ``kinds``, sized relative to the image:

    - ``"scratch"``: a thin straight line (about 1/28 of the side wide, 30-70%
      of the side long) at a random angle;
    - ``"blob"``: a filled ellipse (radii 8-20% of the side);
    - ``"patch"``: cut-and-paste (CutPaste, Li et al. 2021): a rectangle
      (15-30% of the side) copied from another image of ``images`` at
      another place; of 10 random tries, the one that changes the image most.

    Scratches and blobs take a value that contrasts with what they cover
    (bright on dark, dark on bright, per channel), blended at 70-100% over
    it. Lines and ellipses are drawn with ``PIL.ImageDraw``. The mask is the
    drawn shape.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, C, H, W)
        Normal images; ``uint8`` or float. The value range is 0-255 for
        ``uint8``, else the range of ``images``.
    kinds : sequence of str, default=("scratch", "blob", "patch")
        The defect kinds to draw from.
    random_state : int, RandomState instance or None, default=None
        Makes the defects reproducible.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images``: the defective images, of the input's shape and dtype;
        ``masks``: bool array ``(n, H, W)``, ``True`` on the defect;
        ``kinds``: array of str ``(n,)``, the kind of each defect.

    See Also
    --------
    write_mvtec_folder : write normal and defective images with their masks.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skanomaly.datasets import make_synthetic_defects
    >>> digits = load_digits().images[:6]
    >>> defects = make_synthetic_defects(digits, random_state=0)
    >>> defects.images.shape, defects.masks.shape, defects.kinds.tolist()
    ((6, 8, 8), (6, 8, 8), ['scratch', 'blob', 'scratch', 'blob', 'blob', 'patch'])
    >>> bool(defects.masks.any(axis=(1, 2)).all())
    True
    """
    from sklearn.utils import check_random_state

    images = np.asarray(images)
    if images.ndim not in (3, 4) or min(images.shape[-2:]) < 4:
        raise ValueError(
            f"images must be (n, H, W) or (n, C, H, W) with sides of at least 4 pixels, "
            f"got shape {images.shape}"
        )
    if len(images) == 0:
        raise ValueError("images is empty")
    kinds = list(kinds)
    unknown = sorted(set(kinds) - set(DEFECT_KINDS))
    if not kinds or unknown:
        raise ValueError(f"kinds must be among {list(DEFECT_KINDS)}, got {kinds}")
    rng = check_random_state(random_state)
    stack = images.astype(np.float64).reshape(len(images), -1, *images.shape[-2:])
    if images.dtype == np.uint8:
        low, high = 0.0, 255.0
    else:
        low, high = float(stack.min()), float(stack.max())
    out = stack.copy()
    masks = np.zeros((len(images), *images.shape[-2:]), dtype=bool)
    chosen = rng.choice(kinds, size=len(images))
    for i, kind in enumerate(chosen):
        if kind == "patch":
            out[i], masks[i] = _paste_patch(stack, i, rng)
        else:
            masks[i] = _draw_shape(kind, images.shape[-2:], rng)
            covered = stack[i][:, masks[i]]  # (C, pixels under the defect)
            mid = (low + high) / 2
            target = np.where(covered.mean(axis=1) < mid, high, low)[:, None]
            strength = rng.uniform(0.7, 1.0)
            out[i][:, masks[i]] = covered + strength * (target - covered)
    if images.dtype == np.uint8:
        out = np.clip(np.round(out), 0, 255)
    out = out.reshape(images.shape).astype(images.dtype)
    return Bunch(images=out, masks=masks, kinds=np.asarray(chosen, dtype=str))


def _draw_shape(kind: str, shape, rng) -> np.ndarray:
    """A scratch (line) or blob (ellipse) mask of ``shape`` (H, W), drawn with PIL."""
    from PIL import Image, ImageDraw

    height, width = shape
    side = min(height, width)
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    x, y = rng.uniform(0, width - 1), rng.uniform(0, height - 1)
    if kind == "scratch":
        length = rng.uniform(0.3, 0.7) * side
        angle = rng.uniform(0, np.pi)
        dx, dy = length / 2 * np.cos(angle), length / 2 * np.sin(angle)
        line_width = max(1, round(side / 28))
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=1, width=line_width)
    else:
        rx, ry = np.maximum(rng.uniform(0.08, 0.2, size=2) * side, 0.5)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=1)
    mask = np.asarray(canvas, dtype=bool)
    if not mask.any():  # a shape that fell between pixels: keep its centre
        mask[min(int(y), height - 1), min(int(x), width - 1)] = True
    return mask


def _paste_patch(stack: np.ndarray, i: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Cut a rectangle from another image and paste it on image ``i`` (CutPaste)."""
    _, height, width = stack.shape[1:]
    side = min(height, width)
    best, best_change = None, -1.0
    for _ in range(10):
        h, w = np.maximum(np.round(rng.uniform(0.15, 0.3, size=2) * side), 2).astype(int)
        source = (
            stack[(i + rng.randint(1, len(stack))) % len(stack)] if len(stack) > 1 else stack[i]
        )
        sy, sx = rng.randint(0, height - h + 1), rng.randint(0, width - w + 1)
        ty, tx = rng.randint(0, height - h + 1), rng.randint(0, width - w + 1)
        patch = source[:, sy : sy + h, sx : sx + w]
        change = float(np.abs(patch - stack[i][:, ty : ty + h, tx : tx + w]).mean())
        if change > best_change:
            best, best_change = (patch, ty, tx, h, w), change
    patch, ty, tx, h, w = best
    image = stack[i].copy()
    image[:, ty : ty + h, tx : tx + w] = patch
    mask = np.zeros((height, width), dtype=bool)
    mask[ty : ty + h, tx : tx + w] = True
    return image, mask


# ----------------------------------------------------------------------
# One-class protocols
# ----------------------------------------------------------------------
def one_class_split(X_train, y_train, X_test, y_test, normal_class):
    """One class normal, all others anomalous (the one-class image protocol).

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
